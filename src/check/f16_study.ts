// The f16-activation rounding study: how much the error of storing every activation as f16 grows
// through a model, per tensor of an io file.
//
// Each f16 kernel rounds only what it stores, once (test/kernels/f16_activations.test.ts), so a run
// with f16 activations is exactly "every stored activation rounded to f16, all arithmetic f32". For
// each output and tap we measure its max abs error against the reference and express it in units of
// one f16 rounding of the tensor's largest value:
//
//   amplification = max|got - ref| / (2^-11 · max|ref|)
//
// A single rounding gives <= 1; the models' depth and their conditioning raise it (measured by
// `npm run bench:f16-study`, recorded with the tolerances in test/tolerances.ts). The reference's own
// f32 error (README: 1e-6..1e-4) is two to three orders below these errors, so it does not enter.

import { parseCases, type TensorCheck } from './model_case.js';
import type { CaseInputs } from './ops.js';

export const F16_UNIT = 2 ** -11;

export interface ScaledError {
  case: string;
  kind: 'expect' | 'tap';
  name: string;
  maxAbsErr: number;
  /** max |reference| of the tensor. */
  maxRef: number;
  /** maxAbsErr / (2^-11 · maxRef). */
  amplification: number;
}

/** Each check of an io run with the largest reference value of its tensor and its amplification. */
export function scaledErrors(checks: TensorCheck[], metadata: Record<string, string>, tensors: CaseInputs, file = 'io'): ScaledError[] {
  const cases = new Map(parseCases(metadata, file).map((c) => [c.name, c]));
  return checks.map((c) => {
    const spec = c.kind === 'expect' ? cases.get(c.case)?.expect[c.name] : cases.get(c.case)?.taps?.[c.name];
    const ref = spec ? tensors.get(spec.tensor) : undefined;
    if (!ref) throw new Error(`${file}: case ${c.case} ${c.kind} ${c.name} has no reference tensor`);
    let maxRef = 0;
    for (const v of ref.data) maxRef = Math.max(maxRef, Math.abs(v));
    const amplification = maxRef > 0 ? c.maxAbsErr / (F16_UNIT * maxRef) : c.maxAbsErr === 0 ? 0 : Infinity;
    return { case: c.case, kind: c.kind, name: c.name, maxAbsErr: c.maxAbsErr, maxRef, amplification };
  });
}
