// Shared test setup: one GPU device per test file (vitest runs each file in its own forked process,
// since Dawn crashes when an adapter is requested from a worker thread).

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { Gpu, type GpuOptions } from '../src/gpu/gpu.js';
import { readSafetensors } from '../src/io/safetensors.js';
import type { CaseFile } from '../src/check/kernel_case.js';
import { runModelCases, type CaseRunner } from '../src/check/model_case.js';
import type { CaseInputs } from '../src/check/ops.js';

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

/**
 * Runs every case of a model io file twice, unbanded and with the planning limit forced to `limit`,
 * and asserts that every output (and tap, with `withTaps`) is bit-identical between the two runs.
 */
export async function expectBandedEqualsUnbanded(gpu: Gpu, runner: CaseRunner, io: { metadata: Record<string, string>; tensors: CaseInputs }, limit: number, withTaps = false): Promise<void> {
  const run = async () => {
    const outs: Float32Array[] = [];
    const wrapped: CaseRunner = {
      runs: runner.runs,
      run: async (c, i, t) => {
        const r = await runner.run(c, i, t);
        outs.push(...r.outputs.values(), ...(withTaps ? r.taps.values() : []));
        return r;
      },
    };
    const checks = await runModelCases(wrapped, 'io', io.metadata, io.tensors);
    expect(checks.filter((c) => c.error)).toEqual([]);
    return outs;
  };
  const unbanded = await run();
  gpu.maxBindingBytes = limit;
  try {
    const banded = await run();
    expect(banded.length).toBe(unbanded.length);
    banded.forEach((b, i) => expect(b).toEqual(unbanded[i]));
  } finally {
    gpu.maxBindingBytes = gpu.device.limits.maxStorageBufferBindingSize;
  }
}

/**
 * A Gpu stand-in for building modules without a device (full-size manifests): tensors are shapes
 * only; `uploaded` counts the elements written to them.
 */
export function fakeGpu(): { gpu: Gpu; state: { uploaded: number } } {
  const state = { uploaded: 0 };
  const sizes = new Map<object, number>();
  const gpu = {
    empty: (shape: number[], label: string, dtype?: string) => {
      const buffer = {};
      const size = shape.reduce((a, b) => a * b, 1);
      sizes.set(buffer, size);
      return { shape, size, buffer, dtype: dtype ?? 'f32', label, release() {}, destroy() {} };
    },
    writeBuffer: (buffer: object) => {
      state.uploaded += sizes.get(buffer)!;
    },
    // Conv weights are uploaded as stored and reordered by a dispatch (kernels/conv_weight_layout.ts).
    pipeline: () => ({}),
    op: () => {},
  } as unknown as Gpu;
  return { gpu, state };
}
