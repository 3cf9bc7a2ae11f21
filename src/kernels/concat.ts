// Channel concatenation, NHWC: y[.., 0:Ca] = a, y[.., Ca:Ca+Cb] = b (torch.cat([a, b], dim=1); the
// UNet's up path concatenates the hidden state first, then the skip). A pure copy: bit-exact.
// Fast path (both channel counts multiples of 4, at most 1024 in all): one workgroup per image row,
// invocation t owning one vec4 unit of the output channels for the whole row (so which input it reads
// from is fixed: no per-element division). Otherwise one invocation per output element. In bands.
// Stored as the inputs are (both f32 or both f16: activation.ts); a copy, so no rounding either way.

import type { Gpu } from '../gpu/gpu.js';
import { planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { activationDType, dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';

const wgsl = (act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
struct Params { Ca: u32, Cb: u32, e0: u32, count: u32, aBase: u32, bBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<${act}>;
@group(0) @binding(2) var<storage, read> b: array<${act}>;
@group(0) @binding(3) var<storage, read_write> y: array<${act}>;
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * 256u + lid;
  if (i >= p.count) { return; }
  let e = p.e0 + i;
  let C = p.Ca + p.Cb;
  let pix = e / C;
  let c = e % C;
  if (c < p.Ca) { y[e - p.outBase] = a[pix * p.Ca + c - p.aBase]; }
  else { y[e - p.outBase] = b[pix * p.Cb + c - p.Ca - p.bBase]; }
}`;

const rowWgsl = (act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
struct Params { W: u32, Ua: u32, Ub: u32, slots: u32, row0: u32, rows: u32, aBase: u32, bBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<${storageType(act, 4)}>;
@group(0) @binding(2) var<storage, read> b: array<${storageType(act, 4)}>;
@group(0) @binding(3) var<storage, read_write> y: array<${storageType(act, 4)}>;
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lin = linear_workgroup(wid, nwg);
  let U = p.Ua + p.Ub;
  let unit = t % U;
  let slot = t / U;
  if (lin >= p.rows || slot >= p.slots) { return; }
  let pix0 = (p.row0 + lin) * p.W;
  for (var px = pix0 + slot; px < pix0 + p.W; px += p.slots) {
    if (unit < p.Ua) { y[px * U + unit - p.outBase / 4u] = a[px * p.Ua + unit - p.aBase / 4u]; }
    else { y[px * U + unit - p.outBase / 4u] = b[px * p.Ub + unit - p.Ua - p.bBase / 4u]; }
  }
}`;

/** a [N, H, W, Ca], b [N, H, W, Cb] -> [N, H, W, Ca + Cb]. */
export function concatChannels(gpu: Gpu, a: Tensor, b: Tensor, label = 'concat'): Tensor {
  const [n, h, w, ca] = a.shape;
  const cb = b.shape[3];
  if (b.shape[0] !== n || b.shape[1] !== h || b.shape[2] !== w)
    throw new Error(`${label}: [${a.shape}] and [${b.shape}] differ outside the channel axis`);
  const act = activationDType(a, label);
  if (b.dtype !== act) throw new Error(`${label}: [${a.shape}] is ${act} but [${b.shape}] is ${b.dtype} (cast one first)`);
  const y = gpu.empty([n, h, w, ca + cb], label, act);
  if (ca % 4 === 0 && cb % 4 === 0 && ca + cb <= 1024) {
    const rowRanges = (r0: number, r1: number): Range[] => [[r0 * w * ca, r1 * w * ca], [r0 * w * cb, r1 * w * cb], [r0 * w * (ca + cb), r1 * w * (ca + cb)]];
    const bands = planBands(gpu, n * h, rowRanges, `${label} [${a.shape}]+[${b.shape}]`);
    const pipe = gpu.pipeline(`concat.row${dtypeKey(act)}`, rowWgsl(act));
    const units = (ca + cb) / 4;
    gpu.op(`${label} [${a.shape}]+[${b.shape}]`, (pass) => {
      for (const { r0, r1 } of bands) {
        const [ar, br, yr] = rowRanges(r0, r1);
        const [ab, bb, yb] = [gpu.bind(a, ar[0], ar[1]), gpu.bind(b, br[0], br[1]), gpu.bind(y, yr[0], yr[1])];
        gpu.dispatch(pass, pipe, packParams([w, ca / 4, cb / 4, Math.floor(256 / units), r0, r1 - r0, ab.base, bb.base, yb.base]), [ab.binding, bb.binding, yb.binding], r1 - r0);
      }
    });
    return y;
  }
  const ranges = (p0: number, p1: number): Range[] => [[p0 * ca, p1 * ca], [p0 * cb, p1 * cb], [p0 * (ca + cb), p1 * (ca + cb)]];
  const bands = planBands(gpu, n * h * w, ranges, `${label} [${a.shape}]+[${b.shape}]`);
  const pipe = gpu.pipeline(`concat${dtypeKey(act)}`, wgsl(act));
  gpu.op(`${label} [${a.shape}]+[${b.shape}]`, (pass) => {
    for (const { r0, r1 } of bands) {
      const [ar, br, yr] = ranges(r0, r1);
      const [ab, bb, yb] = [gpu.bind(a, ar[0], ar[1]), gpu.bind(b, br[0], br[1]), gpu.bind(y, yr[0], yr[1])];
      const count = yr[1] - yr[0];
      gpu.dispatch(pass, pipe, packParams([ca, cb, yr[0], count, ab.base, bb.base, yb.base]), [ab.binding, bb.binding, yb.binding], Math.ceil(count / 256));
    }
  });
  return y;
}
