// 2x2 average pooling with stride 2 (nn.AvgPool2d(2, 2), what ResnetBlock2D(down=True) uses), NHWC:
//
//   y[n, oh, ow, c] = (x[2oh, 2ow] + x[2oh, 2ow+1] + x[2oh+1, 2ow] + x[2oh+1, 2ow+1]) / 4
//
// Odd trailing rows/columns are dropped (floor), as in PyTorch. Summed in PyTorch's order. One
// invocation per output element, in bands of output rows (each reads its two source rows).
// Precision: x and y stored f32 or f16 (activation.ts); the four loads are widened to f32, summed
// and divided in f32, and the result narrowed once at the store.

import type { Gpu } from '../gpu/gpu.js';
import { planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { activationDType, dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';

const wgsl = (act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
struct Params { H: u32, W: u32, C: u32, Hout: u32, Wout: u32, e0: u32, count: u32, inBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${act}>;
@group(0) @binding(2) var<storage, read_write> y: array<${act}>;
${LINEAR_WORKGROUP}
fn at(n: u32, h: u32, w: u32, c: u32) -> f32 { return f32(x[((n * p.H + h) * p.W + w) * p.C + c - p.inBase]); }
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * 256u + lid;
  if (i >= p.count) { return; }
  let e = p.e0 + i;
  let c = e % p.C;
  let ow = (e / p.C) % p.Wout;
  let row = e / (p.C * p.Wout);
  let n = row / p.Hout;
  let h = (row % p.Hout) * 2u;
  let w = ow * 2u;
  y[e - p.outBase] = ${act}((at(n, h, w, c) + at(n, h, w + 1u, c) + at(n, h + 1u, w, c) + at(n, h + 1u, w + 1u, c)) / 4.0);
}`;

/** x [N, H, W, C] -> [N, floor(H/2), floor(W/2), C]. */
export function avgPool2x2(gpu: Gpu, x: Tensor, label = 'avg_pool2d'): Tensor {
  const [n, h, w, c] = x.shape;
  const [ho, wo] = [Math.floor(h / 2), Math.floor(w / 2)];
  if (ho < 1 || wo < 1) throw new Error(`${label}: input [${x.shape}] is smaller than the 2x2 window`);
  const act = activationDType(x, label);
  const y = gpu.empty([n, ho, wo, c], label, act);
  const srcRow = (r: number) => Math.floor(r / ho) * h + (r % ho) * 2;
  const ranges = (r0: number, r1: number): Range[] => [
    [srcRow(r0) * w * c, (srcRow(r1 - 1) + 2) * w * c],
    [r0 * wo * c, r1 * wo * c],
  ];
  const bands = planBands(gpu, n * ho, ranges, `${label} [${x.shape}]`);
  const pipe = gpu.pipeline(`avg_pool2x2${dtypeKey(act)}`, wgsl(act));
  gpu.op(`${label} [${x.shape}]`, (pass) => {
    for (const { r0, r1 } of bands) {
      const [inR, outR] = ranges(r0, r1);
      const xb = gpu.bind(x, inR[0], inR[1]);
      const yb = gpu.bind(y, outR[0], outR[1]);
      const count = outR[1] - outR[0];
      gpu.dispatch(pass, pipe, packParams([h, w, c, ho, wo, outR[0], count, xb.base, yb.base]), [xb.binding, yb.binding], Math.ceil(count / 256));
    }
  });
  return y;
}
