// Nearest-neighbour upsampling by an integer factor f (2 in the UNet and VAE, 8 for the consistency
// decoder's latent), NHWC:
//
//   y[n, oh, ow, c] = x[n, floor(oh / f), floor(ow / f), c]       (= F.interpolate(mode="nearest"))
//
// One invocation per output element, in bands of output rows; a band reads only its source rows.
// A pure copy, so results are bit-exact.

import type { Gpu } from '../gpu/gpu.js';
import { planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';

const wgsl = () => /* wgsl */ `
struct Params { H: u32, W: u32, C: u32, f: u32, e0: u32, count: u32, inBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
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

/** x [N, H, W, C] -> [N, H*f, W*f, C]. */
export function upsampleNearest(gpu: Gpu, x: Tensor, f: number, label = 'upsample_nearest'): Tensor {
  const [n, h, w, c] = x.shape;
  const y = gpu.empty([n, h * f, w * f, c], label);
  const outRow = w * f * c;
  const srcRow = (r: number) => Math.floor(r / (h * f)) * h + Math.floor((r % (h * f)) / f);
  const ranges = (r0: number, r1: number): Range[] => [
    [srcRow(r0) * w * c, (srcRow(r1 - 1) + 1) * w * c],
    [r0 * outRow, r1 * outRow],
  ];
  const bands = planBands(gpu, n * h * f, ranges, `${label} [${x.shape}]`);
  const pipe = gpu.pipeline('upsample_nearest', wgsl);
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
