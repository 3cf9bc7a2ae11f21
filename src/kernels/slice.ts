// Channel slice, NHWC: y[n, h, w, :] = x[n, h, w, c0:c1] (the mean/logvar halves of quant_conv's
// output, the first 3 of the UNet's 6 output channels). A pure copy, one invocation per output
// element, in bands of pixels, in the input's storage type (f32 or f16: activation.ts).

import type { Gpu } from '../gpu/gpu.js';
import { planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { activationDType, dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';

const wgsl = (act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
struct Params { C: u32, c0: u32, Cout: u32, e0: u32, count: u32, inBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${act}>;
@group(0) @binding(2) var<storage, read_write> y: array<${act}>;
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * 256u + lid;
  if (i >= p.count) { return; }
  let e = p.e0 + i;
  y[e - p.outBase] = x[(e / p.Cout) * p.C + p.c0 + e % p.Cout - p.inBase];
}`;

/** x [..., C] -> [..., c1 - c0]. */
export function sliceChannels(gpu: Gpu, x: Tensor, c0: number, c1: number, label = 'slice'): Tensor {
  const c = x.shape[x.shape.length - 1];
  if (c0 < 0 || c1 > c || c0 >= c1) throw new Error(`${label}: channels [${c0}, ${c1}) of a ${c}-channel tensor`);
  const cout = c1 - c0;
  const act = activationDType(x, label);
  const y = gpu.empty([...x.shape.slice(0, -1), cout], label, act);
  const pixels = x.size / c;
  const ranges = (p0: number, p1: number): Range[] => [[p0 * c, p1 * c], [p0 * cout, p1 * cout]];
  const bands = planBands(gpu, pixels, ranges, `${label} [${x.shape}]`);
  const pipe = gpu.pipeline(`slice_channels${dtypeKey(act)}`, wgsl(act));
  gpu.op(`${label} [${x.shape}][..., ${c0}:${c1}]`, (pass) => {
    for (const { r0, r1 } of bands) {
      const [inR, outR] = ranges(r0, r1);
      const [xb, yb] = [gpu.bind(x, inR[0], inR[1]), gpu.bind(y, outR[0], outR[1])];
      const count = outR[1] - outR[0];
      gpu.dispatch(pass, pipe, packParams([c, c0, cout, outR[0], count, xb.base, yb.base]), [xb.binding, yb.binding], Math.ceil(count / 256));
    }
  });
  return y;
}
