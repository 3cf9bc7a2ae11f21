// Runs one kernel case file (the reference format: see test/fixtures/reference/README.md): reads the op
// and params from its metadata, runs our kernels on its input tensors, and compares with `expected`.
// This is the public contract behind `sdvae check CASE.safetensors`: users can generate their own
// cases with PyTorch in the same format and check ours.

import type { Gpu } from '../gpu/gpu.js';
import { maxAbsDiff } from './compare.js';
import { KERNEL_OPS, type CaseInputs } from './ops.js';

export interface KernelCaseResult {
  name: string;
  op: string;
  /** max |ours - expected| over all elements (NaN when the run failed). */
  maxAbsErr: number;
  atol: number;
  pass: boolean;
  error?: string;
}

export interface CaseFile {
  path: string;
  metadata: Record<string, string>;
  tensors: CaseInputs;
}

export async function runKernelCase(gpu: Gpu, file: CaseFile): Promise<KernelCaseResult> {
  const name = file.path.split('/').pop()!.replace(/\.safetensors$/, '');
  const op = file.metadata.op ?? '';
  const atol = Number(file.metadata.atol);
  const fail = (error: string): KernelCaseResult => ({ name, op, maxAbsErr: NaN, atol, pass: false, error });
  if (!op) return fail(`${file.path}: no "op" in the metadata`);
  if (!Number.isFinite(atol)) return fail(`${file.path}: metadata "atol" is missing or not a number`);
  const run = KERNEL_OPS[op];
  if (!run) return fail(`unknown op "${op}" (known: ${Object.keys(KERNEL_OPS).join(', ')})`);
  const expected = file.tensors.get('expected');
  if (!expected) return fail(`${file.path}: no "expected" tensor`);
  let params: Record<string, unknown>;
  try {
    params = JSON.parse(file.metadata.params ?? '{}');
  } catch {
    return fail(`${file.path}: metadata "params" is not valid JSON`);
  }
  try {
    const out = await run(gpu, file.tensors, params);
    if (out.length !== expected.data.length)
      return fail(`output has ${out.length} values, expected ${expected.data.length} ([${expected.shape}])`);
    const maxAbsErr = maxAbsDiff(out, expected.data);
    return { name, op, maxAbsErr, atol, pass: maxAbsErr <= atol };
  } catch (e) {
    return fail((e as Error).message);
  }
}
