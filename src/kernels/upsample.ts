// Nearest-neighbour upsampling by an integer factor f (2 in the UNet and VAE, 8 for the consistency
// decoder's latent), NHWC:
//
//   y[n, oh, ow, c] = x[n, floor(oh / f), floor(ow / f), c]       (= F.interpolate(mode="nearest"))
//
// Fast path (C a multiple of 4, at most 1024 channels): one workgroup per output row; invocation t owns
// the 4 channels of unit t % U and walks the source row's pixels, loading each once (as a vec4) and
// storing it f times: no per-element index arithmetic. Otherwise one invocation per output element.
// Either way in bands of output rows, each reading only its source rows. A pure copy: bit-exact, in
// the input's storage type (f32 or f16: activation.ts).

import type { Gpu } from '../gpu/gpu.js';
import { planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { activationDType, dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';

const wgsl = (act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
struct Params { H: u32, W: u32, C: u32, f: u32, e0: u32, count: u32, inBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${act}>;
@group(0) @binding(2) var<storage, read_write> y: array<${act}>;
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * 256u + lid;
  if (i >= p.count) { return; }
  let e = p.e0 + i;                                  // global output element
  let c = e % p.C;
  let ow = (e / p.C) % (p.W * p.f);
  let row = e / (p.C * p.W * p.f);                   // n * H*f + oh
  let n = row / (p.H * p.f);
  let ih = (row % (p.H * p.f)) / p.f;
  y[e - p.outBase] = x[((n * p.H + ih) * p.W + ow / p.f) * p.C + c - p.inBase];
}`;

const rowWgsl = (f: number, act: ActivationDType) => /* wgsl */ `${enableF16(act)}
struct Params { H: u32, W: u32, U: u32, slots: u32, row0: u32, rows: u32, inBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${storageType(act, 4)}>;
@group(0) @binding(2) var<storage, read_write> y: array<${storageType(act, 4)}>;
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lin = linear_workgroup(wid, nwg);
  let unit = t % p.U;
  let slot = t / p.U;
  if (lin >= p.rows || slot >= p.slots) { return; }
  let row = p.row0 + lin;                            // output row: n * H*f + oh
  let src = (row / (p.H * ${f}u)) * p.H + (row % (p.H * ${f}u)) / ${f}u;
  for (var iw = slot; iw < p.W; iw += p.slots) {
    let v = x[(src * p.W + iw) * p.U + unit - p.inBase / 4u];
    let o = (row * p.W * ${f}u + iw * ${f}u) * p.U + unit - p.outBase / 4u;
    for (var k = 0u; k < ${f}u; k++) { y[o + k * p.U] = v; }
  }
}`;

/** x [N, H, W, C] -> [N, H*f, W*f, C]. */
export function upsampleNearest(gpu: Gpu, x: Tensor, f: number, label = 'upsample_nearest'): Tensor {
  const [n, h, w, c] = x.shape;
  const act = activationDType(x, label);
  const y = gpu.empty([n, h * f, w * f, c], label, act);
  const outRow = w * f * c;
  const srcRow = (r: number) => Math.floor(r / (h * f)) * h + Math.floor((r % (h * f)) / f);
  const ranges = (r0: number, r1: number): Range[] => [
    [srcRow(r0) * w * c, (srcRow(r1 - 1) + 1) * w * c],
    [r0 * outRow, r1 * outRow],
  ];
  const bands = planBands(gpu, n * h * f, ranges, `${label} [${x.shape}]`);
  const units = c / 4;
  if (c % 4 === 0 && units <= 256) {
    const pipe = gpu.pipeline(`upsample_nearest.row${f}${dtypeKey(act)}`, () => rowWgsl(f, act));
    gpu.op(`${label} [${x.shape}] x${f}`, (pass) => {
      for (const { r0, r1 } of bands) {
        const [inR, outR] = ranges(r0, r1);
        const [xb, yb] = [gpu.bind(x, inR[0], inR[1]), gpu.bind(y, outR[0], outR[1])];
        gpu.dispatch(pass, pipe, packParams([h, w, units, Math.floor(256 / units), r0, r1 - r0, xb.base, yb.base]), [xb.binding, yb.binding], r1 - r0);
      }
    });
    return y;
  }
  const pipe = gpu.pipeline(`upsample_nearest${dtypeKey(act)}`, wgsl(act));
  gpu.op(`${label} [${x.shape}] x${f}`, (pass) => {
    for (const { r0, r1 } of bands) {
      const [inR, outR] = ranges(r0, r1);
      const xb = gpu.bind(x, inR[0], inR[1]);
      const yb = gpu.bind(y, outR[0], outR[1]);
      const count = outR[1] - outR[0];
      gpu.dispatch(pass, pipe, packParams([h, w, c, f, outR[0], count, xb.base, yb.base]), [xb.binding, yb.binding], Math.ceil(count / 256));
    }
  });
  return y;
}
