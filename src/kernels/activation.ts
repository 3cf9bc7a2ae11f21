// How activations are stored, the WGSL every activation kernel shares for it, and the cast kernel.
//
// Activations are f32 by default. On the f16 path (a model's `activations: 'f16'`, adapters with
// `shader-f16`) they are stored as IEEE half, 2 bytes each, and every kernel that reads or writes
// them takes the storage type as a template parameter:
//
//   - `enable f16;` and the activation bindings declared as array<f16> / array<vec4h>;
//   - every load widened to f32 at once (`f32(x[i])`, `vec4f(x[i])`), all arithmetic and every
//     accumulator in f32, the result narrowed once at the store (`f16(v)`: round to nearest, which
//     WGSL's f32 -> f16 conversion is on every adapter tried; the spec allows either neighbour).
//
// So the f16 variant of a kernel computes exactly what its f32 variant computes from the f16-rounded
// inputs, and then rounds the output once: per stored element an error of at most 2^-11 relative
// (half an ulp of f16, 11 significant bits), which is what test/kernels/f16_activations.test.ts
// checks. The f32 variant is the same WGSL with f32 everywhere: the widening and narrowing are
// identities, so f32 results are bit-identical to the kernels before this path existed.
//
// Pipeline keys carry the dtypes (`.f16`), an op's output has its main input's dtype, and a model
// converts only at its edges (cast below): the scheduler, time embedding, group-norm statistics,
// Winograd V/M scratch and attention scores stay f32 (docs/kernels.md, "Precision per kernel").

import type { Gpu } from '../gpu/gpu.js';
import { planBands } from '../gpu/bands.js';
import type { DType, Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';

/** How activations are stored: f32 (the default) or f16 (needs `shader-f16`). */
export type ActivationDType = 'f32' | 'f16';

export const ACTIVATION_DTYPES: readonly ActivationDType[] = ['f32', 'f16'];

/** The activation dtype of a tensor; throws for weight-only dtypes (bf16). */
export function activationDType(t: Tensor, what: string): ActivationDType {
  if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new Error(`${what}: ${t} holds ${t.dtype}; activations are f32 or f16`);
  return t.dtype;
}

/** `enable f16;` when any of the dtypes is f16 (it must precede every declaration of the shader). */
export const enableF16 = (...dtypes: DType[]) => (dtypes.includes('f16') ? 'enable f16;\n' : '');

/** The WGSL storage type of a binding of `dtype`, scalar or vecN. */
export function storageType(dtype: ActivationDType, n: 1 | 2 | 4 = 1): string {
  if (n === 1) return dtype;
  return dtype === 'f32' ? `vec${n}f` : `vec${n}h`;
}

/** The pipeline-key suffix for a list of activation dtypes ('' when all f32: the keys of before). */
export const dtypeKey = (...dtypes: DType[]) => (dtypes.every((d) => d === 'f32') ? '' : `.${dtypes.join('.')}`);

/** Throws unless the adapter can run the f16 path (a dry run plans it on any adapter: it compiles nothing). */
export function requireShaderF16(gpu: Gpu, what: string): void {
  if (!gpu.features.f16 && !gpu.dryRun)
    throw new Error(`${what}: f16 activations need the adapter feature 'shader-f16', which ${gpu.adapterName} does not offer; use activations: 'f32'`);
}

const PER_GROUP = 1024;

const castWgsl = (from: ActivationDType, to: ActivationDType) => /* wgsl */ `${enableF16(from, to)}
struct Params { count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${from}>;
@group(0) @binding(2) var<storage, read_write> y: array<${to}>;
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let first = linear_workgroup(wid, nwg) * ${PER_GROUP}u + lid;
  for (var j = 0u; j < 4u; j++) {
    let i = first + j * 256u;
    if (i >= p.count) { return; }
    y[i] = ${to}(x[i]);   // f16 -> f32 exact; f32 -> f16 rounds (values past 65504 become inf)
  }
}`;

/**
 * x converted to `to` (a new tensor; x itself when it already is `to`, so the caller owns one
 * reference either way: check `y !== x` before releasing). f32 -> f16 rounds to nearest; f16 -> f32
 * is exact.
 */
export function cast(gpu: Gpu, x: Tensor, to: ActivationDType, label = `cast_${to}`): Tensor {
  const from = activationDType(x, label);
  if (from === to) return x;
  if (from === 'f16' || to === 'f16') requireShaderF16(gpu, label);
  const y = gpu.empty(x.shape, label, to);
  // Band starts on a multiple of the f16 offset alignment, so both bindings start exactly at r0.
  const bands = planBands(gpu, x.size, (r0, r1) => [[r0, r1]], label, gpu.storageAlign / 2);
  const pipe = gpu.pipeline(`cast.${from}.${to}`, () => castWgsl(from, to));
  gpu.op(`${label} [${x.shape}] ${from}->${to}`, (pass) => {
    for (const { r0, r1 } of bands) {
      const [xb, yb] = [gpu.bind(x, r0, r1), gpu.bind(y, r0, r1)];
      gpu.dispatch(pass, pipe, packParams([r1 - r0]), [xb.binding, yb.binding], Math.ceil((r1 - r0) / PER_GROUP));
    }
  });
  return y;
}
