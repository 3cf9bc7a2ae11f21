// Runs a model io file (reference format: its metadata `cases` lists runs, inputs, expected outputs
// and taps with their tolerances; see test/fixtures/reference/README.md) against a loaded model, and
// compares every expected tensor and every tapped module output. `sdvae check --model DIR IO` uses it.
//
// When outputs diverge, the first tap (in execution order) past its tolerance names the module where
// the mismatch starts.

import type { Gpu } from '../gpu/gpu.js';
import { nchwToNhwc, nhwcToNchw, type Tensor } from '../gpu/tensor.js';
import { maxAbsDiff } from './compare.js';
import type { CaseInputs, CaseTensor } from './ops.js';

export interface IoCase {
  name: string;
  run: string;
  inputs: Record<string, string>;
  options?: Record<string, unknown>;
  expect: Record<string, { tensor: string; atol: number }>;
  taps?: Record<string, { tensor: string; atol: number }>;
}

export interface TensorCheck {
  case: string;
  kind: 'expect' | 'tap';
  /** Output name (`image`, `x_t_1`, ...) or module path. */
  name: string;
  maxAbsErr: number;
  atol: number;
  pass: boolean;
  error?: string;
}

export interface CaseRunResult {
  /** Outputs by expect-name, NCHW (PyTorch layout). */
  outputs: Map<string, Float32Array>;
  /** Tapped module outputs by path, NCHW, in execution order. */
  taps: Map<string, Float32Array>;
}

/** A model that can execute io cases: given inputs (PyTorch layout) returns outputs (PyTorch layout). */
export interface CaseRunner {
  runs: string[];
  run(c: IoCase, inputs: CaseInputs, tapPaths: string[]): Promise<CaseRunResult>;
}

export function parseCases(metadata: Record<string, string>, file: string): IoCase[] {
  if (!metadata.cases) throw new Error(`${file}: no "cases" entry in the metadata (not a model io file?)`);
  let cases: unknown;
  try {
    cases = JSON.parse(metadata.cases);
  } catch {
    throw new Error(`${file}: metadata "cases" is not valid JSON`);
  }
  if (!Array.isArray(cases)) throw new Error(`${file}: metadata "cases" must be a list`);
  return cases as IoCase[];
}

export async function runModelCases(runner: CaseRunner, file: string, metadata: Record<string, string>, tensors: CaseInputs, onCheck?: (c: TensorCheck) => void): Promise<TensorCheck[]> {
  const all: TensorCheck[] = [];
  const report = (c: TensorCheck) => {
    all.push(c);
    onCheck?.(c);
  };
  for (const c of parseCases(metadata, file)) {
    const fail = (error: string) => report({ case: c.name, kind: 'expect', name: '*', maxAbsErr: NaN, atol: NaN, pass: false, error });
    if (!runner.runs.includes(c.run)) {
      fail(`this model cannot run "${c.run}" cases (it runs: ${runner.runs.join(', ')})`);
      continue;
    }
    const inputs: CaseInputs = new Map();
    for (const [role, tensorName] of Object.entries(c.inputs)) {
      const names = Array.isArray(tensorName) ? tensorName : [tensorName];
      names.forEach((n, i) => {
        const t = tensors.get(n);
        if (t) inputs.set(Array.isArray(tensorName) ? `${role}_${i}` : role, t);
      });
    }
    let result: CaseRunResult;
    try {
      result = await runner.run(c, inputs, Object.keys(c.taps ?? {}));
    } catch (e) {
      fail((e as Error).message);
      continue;
    }
    const compare = (kind: 'expect' | 'tap', name: string, spec: { tensor: string; atol: number }, got: Float32Array | undefined) => {
      const ref = tensors.get(spec.tensor);
      if (!ref) return report({ case: c.name, kind, name, maxAbsErr: NaN, atol: spec.atol, pass: false, error: `reference tensor "${spec.tensor}" is not in the file` });
      if (!got) return report({ case: c.name, kind, name, maxAbsErr: NaN, atol: spec.atol, pass: false, error: 'the model produced no such output' });
      const maxAbsErr = maxAbsDiff(got, ref.data);
      report({ case: c.name, kind, name, maxAbsErr, atol: spec.atol, pass: maxAbsErr <= spec.atol });
    };
    for (const [name, spec] of Object.entries(c.expect)) compare('expect', name, spec, result.outputs.get(name));
    // Taps in execution order, so the first failure is where a divergence starts.
    const tapSpecs = c.taps ?? {};
    const order = [...result.taps.keys(), ...Object.keys(tapSpecs).filter((p) => !result.taps.has(p))];
    for (const path of order) if (tapSpecs[path]) compare('tap', path, tapSpecs[path], result.taps.get(path));
  }
  return all;
}

/** The first failing tap of each case: where outputs start to diverge. */
export function firstDivergence(checks: TensorCheck[]): TensorCheck[] {
  const seen = new Set<string>();
  return checks.filter((c) => c.kind === 'tap' && !c.pass && !seen.has(c.case) && seen.add(c.case));
}

/** Uploads a PyTorch-layout [N, C, H, W] case tensor as NHWC. */
export function uploadCaseTensor(gpu: Gpu, t: CaseTensor, label: string): Tensor {
  const [n, c, h = 1, w = 1] = t.shape;
  const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  return gpu.upload(nchwToNhwc(data, [n, c, h, w]), [n, h, w, c], label);
}

/** Reads an NHWC tensor as NCHW (2D tensors as they are). */
export async function readCaseTensor(t: Tensor): Promise<Float32Array> {
  const data = await t.read();
  return t.shape.length === 4 ? nhwcToNchw(data, t.shape) : data;
}

/** Reads and releases a map of tapped tensors. */
export async function readTaps(taps: Map<string, Tensor>): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [path, t] of taps) {
    out.set(path, await readCaseTensor(t));
    t.release();
  }
  return out;
}
