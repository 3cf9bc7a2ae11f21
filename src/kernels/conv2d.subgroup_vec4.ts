// conv2d, lavapipe variant with vec4 loads: conv2d.subgroup.ts's scheme (read its header first) for
// Cin % 4 == 0 and Cout % 4 == 0, with the input and the weights bound as `array<vec4f>`.
//
// Why a separate pipeline: lavapipe emulates every storage load lane by lane with a bounds check,
// and a vec4-typed load is one check and one 16-byte load per lane, where four f32 loads are four of
// each: ~1.6x faster for the same kernel (docs/benchmarks.md). A vec4 view needs every vec4 to start
// on a multiple of 4 elements: with Cin % 4 == 0 each pixel's channels do (and band offsets are
// aligned to 256 bytes), with Cout % 4 == 0 each lane's 4 output channels do; both bindings are then
// whole multiples of 16 bytes. Otherwise conv2d falls back to the scalar pipeline.
//
// Per step of 32 input channels, lane l loads channels 4l .. 4l+3 of each of the 16 pixels as one
// vec4 (zeros past Cin, which is a multiple of 4, so a vec4 is all in or all out), the 16 x 32 block
// is shared with subgroupBroadcast, and each lane loads one vec4 of weights per k.
// Precision: x and y stored as f32 or f16 (array<vec4f> / array<vec4h>, activation.ts); ld() widens
// to vec4f, accumulators are f32, the output is narrowed at the store.

import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { CONV_PARAMS_STRUCT } from './conv2d.common.js';
import { weightWgsl, type WeightFormat } from './weight_format.js';
import { enableF16, storageType, type ActivationDType } from './activation.js';

const LANES = 8;
const ROWS = 16;
const COLS = 4 * LANES;

const range = (n: number) => [...Array(n).keys()];
const each = (n: number, f: (i: number) => string) => range(n).map(f).join('\n');

/** One step of 32 input channels from ci0: a vec4 of A per lane and pixel, broadcast, multiplied. */
const channelStep = () => {
  // Row-outer order: the accumulators live on the stack (16 vec4 per lane do not fit in registers),
  // so updating one pixel's 4 times in a row loads and stores it once per 4 channels, not per channel.
  const steps = range(LANES).map((j) => {
    // Past Cin (only in the last step) A is 0; the weight row is clamped to stay in bounds.
    const loads = range(4).map((cc) => `      let b${cc} = load_wt4((min(kb + ci0 + ${4 * j + cc}u, p.K - 1u) * p.Cout) / 4u + col4);`);
    return `    {\n${loads.join('\n')}\n${each(ROWS, (r) => `      { let s = subgroupBroadcast(a${r}, ${j}u); acc${r} += s.x * b0; acc${r} += s.y * b1; acc${r} += s.z * b2; acc${r} += s.w * b3; }`)}\n    }`;
  });
  return `        let c = ci0 + 4u * lane;
        let cok = c < p.Cin;
${each(ROWS, (r) => `        let a${r} = ld(o${r}, c, cok);`)}
${steps.join('\n')}`;
};

export const subgroupVec4ConvWgsl = (format: WeightFormat, act: ActivationDType) => /* wgsl */ `enable subgroups;
${enableF16(act)}
${CONV_PARAMS_STRUCT}
alias act = ${act};
@group(0) @binding(1) var<storage, read> x: array<${storageType(act, 4)}>;     // NHWC input (a band of rows), Cin % 4 == 0
// weights [K, Cout], Cout % 4 == 0, read 4 output channels at a time
${weightWgsl(2, 'wt', format, true)}
@group(0) @binding(3) var<storage, read> bias: array<f32>;    // [Cout]
@group(0) @binding(4) var<storage, read_write> y: array<act>; // NHWC output (a band of rows)
${LINEAR_WORKGROUP}

// Channels ci .. ci+3 of the pixel whose channel 0 is at element o (o < 0: padding, reads as 0).
fn ld(o: i32, ci: u32, ok: bool) -> vec4f {
  let valid = ok && o >= 0;
  return select(vec4f(0.0), vec4f(x[select(0u, (u32(o) + ci - p.inBase) / 4u, valid)]), valid);
}

fn tap(img: u32, ih: i32, iw: i32) -> i32 {
  if (ih < 0 || iw < 0 || ih >= i32(p.H) || iw >= i32(p.W)) { return -1; }
  return i32(((img + u32(ih)) * p.W + u32(iw)) * p.Cin);
}

@compute @workgroup_size(${LANES})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tilesN = (p.Cout + ${COLS - 1}u) / ${COLS}u;
  let tile = linear_workgroup(wid, nwg);
  if (tile >= ((p.M + ${ROWS - 1}u) / ${ROWS}u) * tilesN) { return; } // uniform per workgroup
  let m0 = (tile / tilesN) * ${ROWS}u;
  let n0 = (tile % tilesN) * ${COLS}u + 4u * lane;
  let col4 = min(n0, p.Cout - 4u) / 4u; // this lane's vec4 of output channels (clamped for loads)

  // Each pixel of the tile (rows past M repeat the last pixel; computed, never stored).
  let hw = p.Hout * p.Wout;
${each(ROWS, (r) => `  let q${r} = p.pix0 + min(m0 + ${r}u, p.M - 1u);
  let img${r} = (q${r} / hw) * p.H;
  let ih${r} = i32(((q${r} % hw) / p.Wout) * p.stride) - i32(p.padTop);
  let iw${r} = i32((q${r} % p.Wout) * p.stride) - i32(p.padLeft);
  var acc${r} = vec4f(0.0);`)}

  for (var ky = 0u; ky < p.KH; ky++) {
    for (var kx = 0u; kx < p.KW; kx++) {
${each(ROWS, (r) => `      let o${r} = tap(img${r}, ih${r} + i32(ky), iw${r} + i32(kx));`)}
      let kb = (ky * p.KW + kx) * p.Cin;
      for (var ci0 = 0u; ci0 < p.Cin; ci0 += ${4 * LANES}u) {
${channelStep()}
      }
    }
  }

  if (n0 >= p.Cout) { return; }
  let b = vec4f(bias[n0], bias[n0 + 1u], bias[n0 + 2u], bias[n0 + 3u]);
${each(ROWS, (r) => `  if (m0 + ${r}u < p.M) { let o = (p.pix0 + m0 + ${r}u) * p.Cout + n0 - p.outBase; let v = acc${r} + b; y[o] = act(v.x); y[o + 1u] = act(v.y); y[o + 2u] = act(v.z); y[o + 3u] = act(v.w); }`)}
}
`;
