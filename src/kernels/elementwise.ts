// Elementwise ops over same-shaped tensors: silu, and the residual add (a + b) / scale.
//
//   silu(x) = x * sigmoid(x) = x / (1 + exp(-x))
//   add(a, b, s) = (a + b) / s          (ResnetBlock2D: output_scale_factor; Attention: rescale_output_factor)
//   axpby(a, x, b, y) = a*x + b*y, scale(a, x) = a*x   (the consistency sampler's steps)
//
// Layout does not matter (flat index). Each invocation handles 4 vectors of 4 elements (vec4 loads:
// lavapipe emulates every load lane by lane, so fewer, wider loads are what make it fast), or scalars
// when the size is not a multiple of 4. Tensors larger than a binding are split into flat bands
// (gpu/bands.ts) on vec4 boundaries, so results are identical.
// Precision: each input is stored f32 or f16 (kernels/activation.ts), widened to f32 as it is
// loaded; the op runs in f32 and the output, stored in the first input's dtype, is narrowed once.

import type { Gpu } from '../gpu/gpu.js';
import { planBands } from '../gpu/bands.js';
import { sameShape, type Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { activationDType, dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';

const PER_GROUP = 1024; // 256 invocations x 4 elements

/** WGSL for silu that is exact at the extremes: exp(-x) overflows to inf for x < -88.7, giving -0. */
export const SILU_WGSL = /* wgsl */ `
fn silu(x: T) -> T { return x / (1.0 + exp(-x)); }
`;

function flatKernel(dtypes: ActivationDType[], expr: string, vec4: boolean): string {
  // dtypes: the inputs', then the output's.
  const nInputs = dtypes.length - 1;
  const V = vec4 ? 4 : 1;
  const inputs = Array.from({ length: nInputs }, (_, i) => `@group(0) @binding(${i + 1}) var<storage, read> in${i}: array<${storageType(dtypes[i], V)}>;`).join('\n');
  const out = dtypes[nInputs];
  return /* wgsl */ `${enableF16(...dtypes)}
alias T = ${vec4 ? 'vec4f' : 'f32'};
struct Params { count: u32, base: u32, scale: f32, scale2: f32 }   // units (T) in this band, its first element, op scalars
@group(0) @binding(0) var<uniform> p: Params;
${inputs}
@group(0) @binding(${nInputs + 1}) var<storage, read_write> out: array<${storageType(out, V)}>;
${SILU_WGSL}
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let first = linear_workgroup(wid, nwg) * ${PER_GROUP}u + lid;
  for (var j = 0u; j < 4u; j++) {
    let i = first + j * 256u;        // index within the band
    if (i >= p.count) { return; }
    let a = T(in0[i]); ${nInputs > 1 ? 'let b = T(in1[i]);' : ''} ${nInputs > 2 ? 'let c = T(in2[i]);' : ''}
    let s1 = T(p.scale); let s2 = T(p.scale2);
    out[i] = ${storageType(out, V)}(${expr});
  }
}`;
}

/** Runs `expr` over every element; all bindings of a band share one offset (same shapes). */
function flatOp(gpu: Gpu, key: string, expr: string, inputs: Tensor[], scale: number, label: string, scale2 = 0): Tensor {
  if (inputs.length > 3) throw new Error(`${label}: at most 3 inputs`);
  const shape = inputs[0].shape;
  for (const t of inputs) if (!sameShape(t.shape, shape)) throw new Error(`${label}: shapes [${shape}] and [${t.shape}] differ`);
  // The output is stored like the first input (an op's output has its main input's dtype).
  const dtypes = [...inputs.map((t) => activationDType(t, label)), activationDType(inputs[0], label)];
  const out = gpu.empty(shape, label, dtypes[dtypes.length - 1]);
  const vec4 = out.size % 4 === 0;
  const V = vec4 ? 4 : 1;
  const align = Math.max(gpu.storageAlign / (dtypes.includes('f16') ? 2 : 4), V);
  // Band starts are multiples of the offset alignment, so every binding starts exactly at its band.
  const bands = planBands(gpu, out.size, (r0, r1) => [[r0, r1]], label, align);
  const pipeline = gpu.pipeline(`elementwise.${key}${vec4 ? '.vec4' : ''}${dtypeKey(...dtypes)}`, () => flatKernel(dtypes, expr, vec4));
  gpu.op(`${label} [${shape}]`, (pass) => {
    for (const { r0, r1 } of bands) {
      const bindings = [...inputs, out].map((t) => gpu.bind(t, r0, r1).binding);
      const count = (r1 - r0) / V;
      gpu.dispatch(pass, pipeline, packParams([count, r0, { f32: scale }, { f32: scale2 }]), bindings, Math.ceil(count / PER_GROUP));
    }
  });
  return out;
}

export function silu(gpu: Gpu, x: Tensor, label = 'silu'): Tensor {
  return flatOp(gpu, 'silu', 'silu(a)', [x], 1, label);
}

/** (a + b) / scale, the residual connection. */
export function add(gpu: Gpu, a: Tensor, b: Tensor, scale = 1, label = 'add'): Tensor {
  return flatOp(gpu, scale === 1 ? 'add' : 'add_div', scale === 1 ? 'a + b' : '(a + b) / s1', [a, b], scale, label);
}

/** a*x + b*y with host scalars (the consistency scheduler's x0 and re-noising steps). */
export function axpby(gpu: Gpu, a: number, x: Tensor, b: number, y: Tensor, label = 'axpby'): Tensor {
  return flatOp(gpu, 'axpby', 's1 * a + s2 * b', [x, y], a, label, b);
}

/** a*x with a host scalar. */
export function scale(gpu: Gpu, a: number, x: Tensor, label = 'scale'): Tensor {
  return flatOp(gpu, 'scale', 's1 * a', [x], a, label);
}

/** exp(0.5 * clamp(x, -30, 20)): the latent std from its logvar (DiagonalGaussianDistribution). */
export function expHalfClamped(gpu: Gpu, logvar: Tensor, label = 'std'): Tensor {
  return flatOp(gpu, 'exp_half_clamped', 'exp(0.5 * clamp(a, T(-30.0), T(20.0)))', [logvar], 1, label);
}

/** clamp(x, lo, hi) (OpenAI's sampler clamps x0 to [-1, 1] after every step). */
export function clampTensor(gpu: Gpu, x: Tensor, lo: number, hi: number, label = 'clamp'): Tensor {
  return flatOp(gpu, 'clamp', 'clamp(a, s1, s2)', [x], lo, label, hi);
}

/** a·b + c elementwise, rounded as PyTorch's `c + a * b` (the product first): a latent sample mean + std·ε. */
export function fma(gpu: Gpu, a: Tensor, b: Tensor, c: Tensor, label = 'fma'): Tensor {
  return flatOp(gpu, 'a_times_b_plus_c', 'c + a * b', [a, b, c], 1, label);
}
