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

/**
 * dtypes: the inputs', then the output's (kernels/activation.ts). `inPlace`: the result overwrites the
 * first input, which is then bound once, read_write, as `out` (WebGPU forbids binding a buffer both
 * read-only and writable in one dispatch); the output then has the first input's dtype.
 */
function flatKernel(dtypes: ActivationDType[], expr: string, vec4: boolean, inPlace = false): string {
  const nInputs = dtypes.length - 1;
  const V = vec4 ? 4 : 1;
  const first = inPlace ? 1 : 0;
  const inputs = Array.from({ length: nInputs - first }, (_, i) => `@group(0) @binding(${i + 1}) var<storage, read> in${i + first}: array<${storageType(dtypes[i + first], V)}>;`).join('\n');
  const out = dtypes[nInputs];
  return /* wgsl */ `${enableF16(...dtypes)}
alias T = ${vec4 ? 'vec4f' : 'f32'};
struct Params { count: u32, base: u32, scale: f32, scale2: f32 }   // units (T) in this band, its first element, op scalars
@group(0) @binding(0) var<uniform> p: Params;
${inputs}
@group(0) @binding(${nInputs - first + 1}) var<storage, read_write> out: array<${storageType(out, V)}>;
${SILU_WGSL}
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let first = linear_workgroup(wid, nwg) * ${PER_GROUP}u + lid;
  for (var j = 0u; j < 4u; j++) {
    let i = first + j * 256u;        // index within the band
    if (i >= p.count) { return; }
    let a = T(${inPlace ? 'out' : 'in0'}[i]); ${nInputs > 1 ? 'let b = T(in1[i]);' : ''} ${nInputs > 2 ? 'let c = T(in2[i]);' : ''}
    let s1 = T(p.scale); let s2 = T(p.scale2);
    out[i] = ${storageType(out, V)}(${expr});
  }
}`;
}

/** Runs `expr` over every element; all bindings of a band share one offset (same shapes). */
function flatOp(gpu: Gpu, key: string, expr: string, inputs: Tensor[], scale: number, label: string, scale2 = 0, inPlace = false): Tensor {
  if (inputs.length > 3) throw new Error(`${label}: at most 3 inputs`);
  const shape = inputs[0].shape;
  for (const t of inputs) if (!sameShape(t.shape, shape)) throw new Error(`${label}: shapes [${shape}] and [${t.shape}] differ`);
  // The output is stored like the first input (an op's output has its main input's dtype).
  const dtypes = [...inputs.map((t) => activationDType(t, label)), activationDType(inputs[0], label)];
  const out = inPlace ? inputs[0] : gpu.empty(shape, label, dtypes[dtypes.length - 1]);
  const vec4 = out.size % 4 === 0;
  const V = vec4 ? 4 : 1;
  const align = Math.max(gpu.storageAlign / (dtypes.includes('f16') ? 2 : 4), V);
  // Band starts are multiples of the offset alignment, so every binding starts exactly at its band.
  const bands = planBands(gpu, out.size, (r0, r1) => [[r0, r1]], label, align);
  const pipeline = gpu.pipeline(`elementwise.${key}${vec4 ? '.vec4' : ''}${inPlace ? '.inplace' : ''}${dtypeKey(...dtypes)}`, () => flatKernel(dtypes, expr, vec4, inPlace));
  gpu.op(`${label} [${shape}]`, (pass) => {
    for (const { r0, r1 } of bands) {
      const bindings = [...inputs.slice(inPlace ? 1 : 0), out].map((t) => gpu.bind(t, r0, r1).binding);
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

/**
 * (a + b) / scale written over a (which is returned): the residual sum without a third tensor alive,
 * for a block's last op, where `a` (its conv2 output) has no other reader. Same rounding as `add`.
 */
export function addInPlace(gpu: Gpu, a: Tensor, b: Tensor, scale = 1, label = 'add'): Tensor {
  return flatOp(gpu, scale === 1 ? 'add' : 'add_div', scale === 1 ? 'a + b' : '(a + b) / s1', [a, b], scale, label, 0, true);
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

// AutoencoderTiny (TAESD): ReLU, the residual add followed by its `fuse` ReLU, the soft clamp of the
// input latent, and the [-1, 1] <-> [0, 1] image rescaling. CPU references: activation.reference.ts.

/** max(x, 0) (torch.nn.ReLU; -0 and NaN pass as WGSL's max gives them: max(-0, 0) may be either zero). */
export function relu(gpu: Gpu, x: Tensor, label = 'relu'): Tensor {
  return flatOp(gpu, 'relu', 'max(a, T(0.0))', [x], 1, label);
}

/** max(a + b, 0): AutoencoderTinyBlock's `fuse(conv(x) + skip(x))` as one pass. */
export function addRelu(gpu: Gpu, a: Tensor, b: Tensor, label = 'add_relu'): Tensor {
  return flatOp(gpu, 'add_relu', 'max(a + b, T(0.0))', [a, b], 1, label);
}

/**
 * tanh(x / m) * m with m = 3: DecoderTiny's soft clamp of the latent to (-3, 3). tanh is written out
 * as sign(y)·(1 − e)/(1 + e), e = exp(−2|y|), which never overflows (exp of a non-positive number) and
 * is exactly ±1 where tanh rounds to it; its absolute error stays within a few float32 ulps of 1.
 */
export function tanhClamp(gpu: Gpu, x: Tensor, magnitude = 3, label = 'tanh_clamp'): Tensor {
  const expr = '(sign(a / s1) * (T(1.0) - exp(T(-2.0) * abs(a / s1))) / (T(1.0) + exp(T(-2.0) * abs(a / s1)))) * s1';
  return flatOp(gpu, 'tanh_clamp', expr, [x], magnitude, label);
}

/** x·s + t with host scalars: EncoderTiny's (x + 1) / 2 (as x·0.5 + 0.5, the same rounding: halving is exact) and DecoderTiny's x·2 − 1. */
export function affine(gpu: Gpu, x: Tensor, s: number, t: number, label = 'affine'): Tensor {
  return flatOp(gpu, 'affine', 'a * s1 + s2', [x], s, label, t);
}
