// Shared test setup: one GPU device per test file (vitest runs each file in its own forked process,
// since Dawn crashes when an adapter is requested from a worker thread).

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Gpu, type GpuOptions } from '../src/gpu/gpu.js';
import { readSafetensors } from '../src/io/safetensors.js';
import type { CaseFile } from '../src/check/kernel_case.js';

export const FIXTURES = join(import.meta.dirname, 'fixtures', 'reference');

/** Creates the device before the file's tests and destroys it after, so the process exits cleanly. */
export function useGpu(opts: GpuOptions = {}): () => Gpu {
  let gpu: Gpu | undefined;
  beforeAll(async () => {
    gpu = await Gpu.create(opts);
  });
  afterAll(() => gpu?.destroy());
  return () => {
    if (!gpu) throw new Error('GPU not created yet');
    return gpu;
  };
}

export interface IndexCase {
  case: string;
  file: string;
  op: string;
  params: Record<string, unknown>;
  recommended_atol: number;
}

export function kernelIndex(): IndexCase[] {
  return JSON.parse(readFileSync(join(FIXTURES, 'kernels', 'index.json'), 'utf8')).cases;
}

export function loadCase(file: string): CaseFile {
  const path = join(FIXTURES, file);
  const { metadata, tensors } = readSafetensors(path);
  return { path, metadata, tensors };
}

export function kernelCaseFiles(): string[] {
  return readdirSync(join(FIXTURES, 'kernels')).filter((f) => f.endsWith('.safetensors'));
}
