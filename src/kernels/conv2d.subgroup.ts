// conv2d, lavapipe variant: implicit GEMM with the A operand shared between lanes by subgroupBroadcast.
//
// On lavapipe every storage load is emulated lane by lane (a bounds check and a scalar load per lane
// and per component), while a broadcast from a constant lane is one in-register shuffle. So the
// number of elements each lane loads per FMA sets the speed, and this kernel keeps it low:
//
//   - a workgroup is one subgroup of 8 lanes and computes a 16 (pixels) x 32 (output channels) tile;
//     lane l owns all 16 pixels x channels n0 + 4l .. 4l+3 (16 vec4 accumulators);
//   - per step of 8*V input channels, lane l loads the V channels ci0 + V*l .. of each of the 16
//     pixels (V = 4 when Cin % 32 == 0, else 1), and the 16 x 8V block of A is handed to every lane
//     with subgroupBroadcast; each lane loads its own 4 weights per k: 4 + 16/8 loads feed 64 FMAs.
//   - taps (ky, kx) are the outer loop, so the pixel decomposition (div/mod) happens once per kernel
//     and the padding test once per tap and pixel, not per element.
//
// Precision: activations stored f32 or f16 (activation.ts), widened to f32 by ld(); weights widened
// by load_wt; f32 accumulators; the output narrowed to the activation dtype at the store.
//
// It assumes subgroups of exactly 8 lanes (workgroup = subgroup, broadcast indices 0..7), so the
// pipeline refuses adapters that report another size (defaultConvVariant only picks it for size 8).

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { convParamsWgsl, type ConvKernel, type ConvPipelineShape } from './conv2d.common.js';
import type { WeightFormat } from './weight_format.js';
import { dtypeKey, type ActivationDType } from './activation.js';
import { subgroupVec4ConvWgsl } from './conv2d.subgroup_vec4.js';

const LANES = 8; // the subgroup size this kernel is written for
const ROWS = 16; // output pixels per tile (every lane holds all of them)
const COLS = 4 * LANES; // output channels per tile (4 per lane)
const XYZW = ['x', 'y', 'z', 'w'];

const range = (n: number) => [...Array(n).keys()];
const each = (n: number, f: (i: number) => string) => range(n).map(f).join('\n');

/**
 * The k loop over one step of 8*V input channels starting at ci0: A values loaded V per lane, then
 * broadcast lane by lane. `okV` is the per-lane channel mask (always true on the V = 4 path).
 */
function channelStep(v: 1 | 4): string {
  const ty = v === 4 ? 'vec4f' : 'f32';
  const load = (r: number) =>
    v === 4
      ? `vec4f(ld(o${r}, c, true), ld(o${r}, c + 1u, true), ld(o${r}, c + 2u, true), ld(o${r}, c + 3u, true))`
      : `ld(o${r}, c, c < p.Cin)`;
  const steps = range(LANES).map((j) => {
    const fmas = range(v).map((cc) => {
      // Channel ci0 + V*j + cc, clamped on the V = 1 tail so the weight load stays in bounds (the
      // broadcast A value is 0 there, so the clamped weight contributes nothing).
      const ci = v === 4 ? `ci0 + ${v * j + cc}u` : `min(ci0 + ${j}u, p.Cin - 1u)`;
      const a = (r: number) => (v === 4 ? `s${r}.${XYZW[cc]}` : `s${r}`);
      return `      { let b = wrow(kb + ${ci});\n${each(ROWS, (r) => `        acc${r} += ${a(r)} * b;`)} }`;
    });
    return `    {\n${each(ROWS, (r) => `      let s${r} = subgroupBroadcast(a${r}, ${j}u);`)}\n${fmas.join('\n')}\n    }`;
  });
  return `  let c = ci0 + ${v}u * lane;
${each(ROWS, (r) => `  let a${r}: ${ty} = ${load(r)};`)}
${steps.join('\n')}`;
}

const wgsl = (format: WeightFormat, act: ActivationDType) => /* wgsl */ `${convParamsWgsl(format, act, 'enable subgroups;\n')}
${LINEAR_WORKGROUP}
var<private> cols: vec4u; // this lane's 4 output channels, clamped to Cout - 1 for loads

// Weights of GEMM row k for this lane's 4 output channels.
fn wrow(k: u32) -> vec4f {
  let r = k * p.Cout;
  return vec4f(load_wt(r + cols.x), load_wt(r + cols.y), load_wt(r + cols.z), load_wt(r + cols.w));
}

// Input channel ci of the pixel whose channel 0 is at element o (o < 0: padding, reads as 0). The
// index is made safe before the load so a padded pixel never reads outside the bound band.
fn ld(o: i32, ci: u32, ok: bool) -> f32 {
  let valid = ok && o >= 0;
  return select(0.0, f32(x[select(0u, u32(o) + ci - p.inBase, valid)]), valid);
}

@compute @workgroup_size(${LANES})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tilesN = (p.Cout + ${COLS - 1}u) / ${COLS}u;
  let tile = linear_workgroup(wid, nwg);
  if (tile >= ((p.M + ${ROWS - 1}u) / ${ROWS}u) * tilesN) { return; } // uniform per workgroup
  let m0 = (tile / tilesN) * ${ROWS}u;
  let n0 = (tile % tilesN) * ${COLS}u + 4u * lane;
  cols = min(vec4u(n0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.Cout - 1u));

  // Each pixel of the tile (rows past M repeat the last pixel; they are computed, never stored):
  // its image's first input row and the top-left input coordinate of its receptive field.
  let hw = p.Hout * p.Wout;
${each(ROWS, (r) => `  let q${r} = p.pix0 + min(m0 + ${r}u, p.M - 1u);
  let img${r} = (q${r} / hw) * p.H;
  let ih${r} = i32(((q${r} % hw) / p.Wout) * p.stride) - i32(p.padTop);
  let iw${r} = i32((q${r} % p.Wout) * p.stride) - i32(p.padLeft);
  var acc${r} = vec4f(0.0);`)}

  for (var ky = 0u; ky < p.KH; ky++) {
    for (var kx = 0u; kx < p.KW; kx++) {
      // Element index of channel 0 of the input pixel under this tap, -1 in the padding.
${each(ROWS, (r) => `      let o${r} = tap(img${r}, ih${r} + i32(ky), iw${r} + i32(kx));`)}
      let kb = (ky * p.KW + kx) * p.Cin;
      if (p.Cin % ${4 * LANES}u == 0u) {
        for (var ci0 = 0u; ci0 < p.Cin; ci0 += ${4 * LANES}u) {
${channelStep(4)}
        }
      } else {
        for (var ci0 = 0u; ci0 < p.Cin; ci0 += ${LANES}u) {
${channelStep(1)}
        }
      }
    }
  }

  for (var j = 0u; j < 4u; j++) {
    let co = n0 + j;
    if (co >= p.Cout) { break; }
    let b = bias[co];
${each(ROWS, (r) => `    if (m0 + ${r}u < p.M) { y[(p.pix0 + m0 + ${r}u) * p.Cout + co - p.outBase] = act(acc${r}[j] + b); }`)}
  }
}

fn tap(img: u32, ih: i32, iw: i32) -> i32 {
  if (ih < 0 || iw < 0 || ih >= i32(p.H) || iw >= i32(p.W)) { return -1; }
  return i32(((img + u32(ih)) * p.W + u32(iw)) * p.Cin);
}
`;

export const subgroupConvKernel: ConvKernel = {
  tileM: ROWS,
  tileN: COLS,
  pipeline(gpu: Gpu, { cin, cout, format, act }: ConvPipelineShape) {
    const { subgroups, subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.features;
    if (!subgroups || lo !== LANES || hi !== LANES)
      throw new Error(`conv2d.subgroup needs subgroups of exactly ${LANES} lanes (adapter: ${subgroups ? `${lo}..${hi}` : 'no subgroups'})`);
    // vec4-typed loads where every vec4 is aligned (conv2d.subgroup_vec4.ts), scalar loads otherwise.
    if (cin % 4 === 0 && cout % 4 === 0) return gpu.pipeline(`conv2d.subgroup.vec4.${format}${dtypeKey(act)}`, () => subgroupVec4ConvWgsl(format, act));
    return gpu.pipeline(`conv2d.subgroup.${format}${dtypeKey(act)}`, () => wgsl(format, act));
  },
};
