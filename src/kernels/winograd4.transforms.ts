// Winograd F(4x4, 3x3) transforms (Lavin & Gray 2015; Toom-Cook with 5 finite interpolation points
// plus ∞). A 4x4 block of outputs of a 3x3 convolution is computed from the 6x6 input tile d around
// it as
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (⊙: element-wise, summed over input channels)
//
// 36 multiplies per channel pair replace 144: 4x fewer (F(2x2, 3x3): 2.25x). The price is accuracy:
// the transforms have large coefficients, so f32 rounding errors grow. Points: (0, 1, -1, 2, -1/2)
// rather than Lavin's (0, ±1, ±2): same speed (the GEMMs do not care), but Aᵀ's largest entries
// are 8 and 1/8 instead of 8 and -8 and Bᵀ's 5/2 instead of 5, which measured ~2x smaller errors
// (a float32 simulation of this kernel on the reference cases: 128 -> 128 16x16, max abs error
// 3.1e-5 with (0, ±1, ±2), 1.3e-5 with these points; the choice after Barabasz et al., "Error
// analysis and improving the accuracy of Winograd convolution for deep neural networks", 2019).
// All entries of Bᵀ and Aᵀ are exact in binary; G's rows are integer combinations divided by 1, 3
// or 15 (one rounding). test/kernels/winograd4.test.ts checks in float64 that these matrices compute
// the direct convolution; the WGSL is generated from them (sums in column order, zeros skipped).
// Same invocation layout as winograd.transforms.ts: one invocation per (tile, 4 channels).
// Precision as there: x / y stored f32 or f16 (widened at the load, narrowed at the store); V, M and
// the transform arithmetic f32.

import { weightWgsl, type WeightFormat } from './weight_format.js';
import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';
import { TRANSFORM_WG } from './winograd.transforms.js';

/** The finite interpolation points (the sixth is ∞). */
export const POINTS4 = [0, 1, -1, 2, -1 / 2];
/** Bᵀ (6x6): V = Bᵀ d B. */
export const BT4 = [
  [1, 3 / 2, -2, -3 / 2, 1, 0],
  [0, -1, -5 / 2, -1 / 2, 1, 0],
  [0, 1, 1 / 2, -5 / 2, 1, 0],
  [0, -1 / 2, -1, 1 / 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 1, 3 / 2, -2, -3 / 2, 1],
];
/** G (6x3) as integer rows over a denominator: G[j] = G4_NUM[j] / G4_DEN[j]; U = G g Gᵀ. */
export const G4_NUM = [
  [1, 0, 0],
  [-1, -1, -1],
  [1, -1, 1],
  [1, 2, 4],
  [-16, 8, -4],
  [0, 0, 1],
];
export const G4_DEN = [1, 3, 3, 15, 15, 1];
export const G4 = G4_NUM.map((row, j) => row.map((v) => v / G4_DEN[j]));
/** Aᵀ (4x6): Y = Aᵀ M A. */
export const AT4 = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -1 / 2, 0],
  [0, 1, 1, 4, 1 / 4, 0],
  [0, 1, -1, 8, -1 / 8, 1],
];

const range6 = [0, 1, 2, 3, 4, 5];
const grid = (rows: number, cols: number, f: (r: number, c: number) => string) =>
  [...Array(rows * cols).keys()].map((i) => f(Math.floor(i / cols), i % cols)).join('\n');
const lit = (c: number) => (Number.isInteger(c) ? `${c}.0` : `${c}`);
/** WGSL expression of row · (args): terms in column order, zeros skipped, ±1 without a multiply. */
function dot(row: number[], args: string[]): string {
  let e = '';
  row.forEach((c, j) => {
    if (c === 0) return;
    const mag = Math.abs(c) === 1 ? args[j] : `${lit(Math.abs(c))} * ${args[j]}`;
    e += e === '' ? (c < 0 ? `-${Math.abs(c) === 1 ? args[j] : `(${mag})`}` : mag) : ` ${c < 0 ? '-' : '+'} ${mag}`;
  });
  return e;
}
/** A WGSL function applying matrix m to its arguments (of type ty): fn name(a0, ..) -> array<ty, rows>. */
function matFn(name: string, m: number[][], ty: string, den?: number[]): string {
  const args = m[0].map((_, j) => `a${j}`);
  const rows = m.map((row, i) => (den && den[i] !== 1 ? `(${dot(row, args)}) / ${lit(den[i])}` : dot(row, args)));
  return `fn ${name}(${args.map((a) => `${a}: ${ty}`).join(', ')}) -> array<${ty}, ${m.length}> {
  return array<${ty}, ${m.length}>(${rows.join(', ')});
}`;
}

const BAND_PARAMS_WGSL = /* wgsl */ `
struct Params {
  H: u32, W: u32, Cin: u32, Cout: u32,
  tilesH: u32, tilesW: u32,  // tiles per image: ceil(H / 4) x ceil(W / 4)
  tr0: u32,                  // first tile row of this band, flattened (n * tilesH + th)
  T: u32, Tp: u32,           // tiles in this band, and rounded up to the GEMM tile's rows
  Kp: u32, Np: u32,          // Cin and Cout rounded up to 32
  inBase: u32, outBase: u32, // element index where the bound input / output range starts
  midRow: u32, inBaseB: u32, // input rows (flattened n * H + h) from midRow on are read from xb (base inBaseB)
}
@group(0) @binding(0) var<uniform> p: Params;
${LINEAR_WORKGROUP}
fn invocation(wid: vec3u, nwg: vec3u, li: u32) -> u32 { return linear_workgroup(wid, nwg) * ${TRANSFORM_WG}u + li; }
`;

/**
 * U = G g Gᵀ for every (ci, co): w [9 * Cin, Cout] -> U, an rgba32float texture array [36 positions]
 * [Kp rows, Np / 4 texels], zero padded. One invocation per ci and 4 output channels.
 */
const weightTransformWgsl = (format: WeightFormat, uFormat: string) => /* wgsl */ `
struct Params { Cin: u32, Cout: u32, Kp: u32, Np: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${weightWgsl(1, 'w', format)}
@group(0) @binding(2) var U: texture_storage_2d_array<${uFormat}, write>;
${LINEAR_WORKGROUP}
// G applied to a 3-vector.
${matFn('gv', G4_NUM, 'f32', G4_DEN)}

@compute @workgroup_size(${TRANSFORM_WG})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * ${TRANSFORM_WG}u + li;
  if (i >= p.Kp * p.Np / 4u) { return; }
  let ci = i / (p.Np / 4u);
  let co4 = i % (p.Np / 4u);
  var u: array<vec4f, 36>; // u[position] = the 4 output channels
  for (var q = 0u; q < 4u; q++) {
    let co = co4 * 4u + q;
    let ok = ci < p.Cin && co < p.Cout;
    var g: array<f32, 9>; // g[ky * 3 + kx]
    for (var t = 0u; t < 9u; t++) { g[t] = select(0.0, load_w(select(0u, (t * p.Cin + ci) * p.Cout + co, ok)), ok); }
    let c0 = gv(g[0], g[3], g[6]);
    let c1 = gv(g[1], g[4], g[7]);
    let c2 = gv(g[2], g[5], g[8]);
    for (var r = 0u; r < 6u; r++) {
      let row = gv(c0[r], c1[r], c2[r]);
      for (var c = 0u; c < 6u; c++) { u[r * 6u + c][q] = row[c]; }
    }
  }
  for (var pos = 0u; pos < 36u; pos++) { textureStore(U, vec2u(co4, ci), pos, u[pos]); }
}
`;

/** V = Bᵀ d B for every tile t < Tp and channel ci < Kp of the band: x (NHWC band) -> V [36, Tp, Kp]. */
const inputWgsl = (vec4: boolean, act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
${BAND_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> x: array<${storageType(act, vec4 ? 4 : 1)}>;  // input rows before midRow
@group(0) @binding(2) var<storage, read> xb: array<${storageType(act, vec4 ? 4 : 1)}>; // from midRow on (see winograd.ts)
@group(0) @binding(3) var<storage, read_write> V: array<vec4f>;
// Channels ci .. ci+3 of input pixel (n, ih, iw); zeros outside the image and past Cin.
fn ld(n: u32, ih: i32, iw: i32, ci: u32, live: bool) -> vec4f {
  let ok = live && ih >= 0 && iw >= 0 && ih < i32(p.H) && iw < i32(p.W);
  let gr = n * p.H + u32(ih);
  let second = gr >= p.midRow;
  let at = select(0u, (gr * p.W + u32(iw)) * p.Cin + ci - select(p.inBase, p.inBaseB, second), ok);
${vec4
  ? `  var v = vec4f(0.0);
  if (ok) { if (second) { v = vec4f(xb[at / 4u]); } else { v = vec4f(x[at / 4u]); } }
  return v;`
  : `  var v = vec4f(0.0);
  for (var q = 0u; q < 4u; q++) { if (ok && ci + q < p.Cin) { if (second) { v[q] = f32(xb[at + q]); } else { v[q] = f32(x[at + q]); } } }
  return v;`}
}

@compute @workgroup_size(${TRANSFORM_WG})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = invocation(wid, nwg, li);
  let K4 = p.Kp / 4u;
  if (i >= p.Tp * K4) { return; }
  let t = i / K4;
  let ci = (i % K4) * 4u;
  let tr = p.tr0 + t / p.tilesW;
  let n = tr / p.tilesH;
  let ih0 = i32(4u * (tr % p.tilesH)) - 1;
  let iw0 = i32(4u * (t % p.tilesW)) - 1;
  let live = t < p.T && ci < p.Cin;
  // Straight-line code (generated): lavapipe keeps dynamically indexed arrays in memory.
  // d: the 6x6 tile; e = Bᵀ d (down each column); V = e B (along each row).
${grid(6, 6, (r, c) => `  let d${r}${c} = ld(n, ih0 + ${r}, iw0 + ${c}, ci, live);`)}
${grid(6, 6, (r, c) => `  let e${r}${c} = ${dot(BT4[r], range6.map((j) => `d${j}${c}`))};`)}
  let vt = t * K4 + ci / 4u;
  let vs = p.Tp * K4; // V's stride between positions
${grid(6, 6, (r, c) => `  V[${r * 6 + c}u * vs + vt] = ${dot(BT4[c], range6.map((j) => `e${r}${j}`))};`)}
}
`;

/** Y = Aᵀ m A + bias for every tile t < T and channel co < Cout: M [36, Tp, Np] -> y (NHWC band). */
const outputWgsl = (vec4: boolean, act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
${BAND_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> M: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<${storageType(act, vec4 ? 4 : 1)}>;
fn st(o: u32, co: u32, v: vec4f) {
${vec4
  ? `  y[o / 4u] = ${storageType(act, 4)}(v);`
  : `  for (var q = 0u; q < 4u; q++) { if (co + q < p.Cout) { y[o + q] = ${act}(v[q]); } }`}
}

@compute @workgroup_size(${TRANSFORM_WG})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = invocation(wid, nwg, li);
  let C4 = (p.Cout + 3u) / 4u;
  if (i >= p.T * C4) { return; }
  let t = i / C4;
  let co = (i % C4) * 4u;
  // Straight-line code (generated): m = the 36 positions; s = Aᵀ m (down each column).
  let ms = p.Tp * p.Np / 4u; // M's stride between positions
  let mt = t * (p.Np / 4u) + co / 4u;
${grid(6, 6, (r, c) => `  let m${r}${c} = M[${r * 6 + c}u * ms + mt];`)}
${grid(4, 6, (r, c) => `  let s${r}${c} = ${dot(AT4[r], range6.map((j) => `m${j}${c}`))};`)}
  let tr = p.tr0 + t / p.tilesW;
  let n = tr / p.tilesH;
  let oh = 4u * (tr % p.tilesH);
  let ow = 4u * (t % p.tilesW);
  let cb = min(vec4u(co) + vec4u(0u, 1u, 2u, 3u), vec4u(p.Cout - 1u));
  let b = vec4f(bias[cb.x], bias[cb.y], bias[cb.z], bias[cb.w]);
  let o = ((n * p.H + oh) * p.W + ow) * p.Cout + co - p.outBase;
  // Edge tiles: rows / columns past the image (H or W not a multiple of 4) are not stored.
  let rows = min(4u, p.H - oh);
  let cols = min(4u, p.W - ow);
${grid(4, 4, (r, c) => `  if (${r}u < rows && ${c}u < cols) { st(o + ${r === 0 ? '' : `${r}u * p.W * p.Cout + `}${c}u * p.Cout, co, ${dot(AT4[c], range6.map((j) => `s${r}${j}`))} + b); }`)}
}
`;

export const winograd4WeightPipeline = (gpu: Gpu, format: WeightFormat, uFormat: 'rgba32float' | 'rgba16float' = 'rgba32float') =>
  gpu.pipeline(`winograd4.weights.${format}.${uFormat}`, () => weightTransformWgsl(format, uFormat));
export const winograd4InputPipeline = (gpu: Gpu, cin: number, act: ActivationDType = 'f32') =>
  cin % 4 === 0 ? gpu.pipeline(`winograd4.input.vec4${dtypeKey(act)}`, inputWgsl(true, act)) : gpu.pipeline(`winograd4.input${dtypeKey(act)}`, inputWgsl(false, act));
export const winograd4OutputPipeline = (gpu: Gpu, cout: number, act: ActivationDType = 'f32') =>
  cout % 4 === 0 ? gpu.pipeline(`winograd4.output.vec4${dtypeKey(act)}`, outputWgsl(true, act)) : gpu.pipeline(`winograd4.output${dtypeKey(act)}`, outputWgsl(false, act));
