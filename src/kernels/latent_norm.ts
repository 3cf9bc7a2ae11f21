// Per-channel latent normalisation of the consistency decoder (ConsistencyDecoderVAE.decode), NHWC:
//
//   y[n, h, w, c] = (x[n, h, w, c] * scaling_factor - means[c]) / stds[c]
//
// in the same order of operations as PyTorch. Latents are small (H/8 x W/8 x 4): one dispatch, no bands.
// x and y are stored f32 or f16 (activation.ts; y like x); the arithmetic is f32.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { packParams } from '../gpu/wgsl.js';
import { activationDType, dtypeKey, enableF16, type ActivationDType } from './activation.js';

const MAX_C = 16;

const wgsl = (act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
struct Params { count: u32, C: u32, scaling: f32, pad: u32, means: array<vec4f, ${MAX_C / 4}>, stds: array<vec4f, ${MAX_C / 4}> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${act}>;
@group(0) @binding(2) var<storage, read_write> y: array<${act}>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.count) { return; }
  let c = i % p.C;
  y[i] = ${act}((f32(x[i]) * p.scaling - p.means[c / 4u][c % 4u]) / p.stds[c / 4u][c % 4u]);
}`;

export function latentNormalize(gpu: Gpu, x: Tensor, scaling: number, means: readonly number[], stds: readonly number[], label = 'latent_normalize'): Tensor {
  const c = x.shape[x.shape.length - 1];
  if (means.length !== c || stds.length !== c || c > MAX_C) throw new Error(`${label}: ${c} channels, ${means.length} means, ${stds.length} stds`);
  const pad = (v: readonly number[]) => Array.from({ length: MAX_C }, (_, i) => ({ f32: v[i] ?? 1 }));
  const act = activationDType(x, label);
  const y = gpu.empty(x.shape, label, act);
  const pipe = gpu.pipeline(`latent_normalize${dtypeKey(act)}`, wgsl(act));
  gpu.op(`${label} [${x.shape}]`, (pass) =>
    gpu.dispatch(pass, pipe, packParams([x.size, c, { f32: scaling }, 0, ...pad(means), ...pad(stds)]), [gpu.bind(x).binding, gpu.bind(y).binding], Math.ceil(x.size / 64)),
  );
  return y;
}
