// Winograd F(2x2, 3x3) transforms (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015). A 2x2 block of outputs of a 3x3 convolution is computed from the 4x4 input tile d
// around it as
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (⊙: element-wise, summed over input channels)
//
//        | 1  0 -1  0 |         | 1    0    0  |
//   Bᵀ = | 0  1  1  0 |    G =  | 1/2  1/2  1/2|    Aᵀ = | 1  1  1  0 |
//        | 0 -1  1  0 |         | 1/2 -1/2  1/2|         | 0  1 -1 -1 |
//        | 0  1  0 -1 |         | 0    0    1  |
//
// so 16 multiplies per channel pair replace 36: 2.25x fewer. The sum over channels at each of the 16
// positions is a GEMM (winograd.gemm.ts). All coefficients are 0, ±1 or ±1/2 (exact in binary), so
// the only extra rounding is from the additions. Every kernel here is one invocation per
// (tile, 4 channels), channels fastest so neighbouring invocations touch neighbouring addresses.

import { weightWgsl, type WeightFormat } from './weight_format.js';
import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';

export const TRANSFORM_WG = 64;

/** Band geometry shared by the input and output transforms (packParams order in winograd.ts). */
const BAND_PARAMS_WGSL = /* wgsl */ `
struct Params {
  H: u32, W: u32, Cin: u32, Cout: u32,
  tilesH: u32, tilesW: u32,  // tiles per image: ceil(H / 2) x ceil(W / 2)
  tr0: u32,                  // first tile row of this band, flattened (n * tilesH + th)
  T: u32, Tp: u32,           // tiles in this band, and rounded up to the GEMM tile's rows
  Kp: u32, Np: u32,          // Cin and Cout rounded up to 32
  inBase: u32, outBase: u32, // element index where the bound input / output range starts
  midRow: u32, inBaseB: u32, // unused here (F(4x4, 3x3)'s split input binding, winograd4.transforms.ts)
}
@group(0) @binding(0) var<uniform> p: Params;
${LINEAR_WORKGROUP}
fn invocation(wid: vec3u, nwg: vec3u, li: u32) -> u32 { return linear_workgroup(wid, nwg) * ${TRANSFORM_WG}u + li; }
`;

/**
 * U = G g Gᵀ for every (ci, co): w [9 * Cin, Cout] (GEMM layout) -> U, an rgba32float texture array
 * [16 positions][Kp rows, Np / 4 texels], zero padded. One invocation per ci and 4 output channels.
 */
const weightTransformWgsl = (format: WeightFormat, uFormat: string) => /* wgsl */ `
struct Params { Cin: u32, Cout: u32, Kp: u32, Np: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${weightWgsl(1, 'w', format)}
@group(0) @binding(2) var U: texture_storage_2d_array<${uFormat}, write>;
${LINEAR_WORKGROUP}
// G applied to a 3-vector: (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2).
fn gv(v0: f32, v1: f32, v2: f32) -> vec4f { return vec4f(v0, (v0 + v1 + v2) * 0.5, (v0 - v1 + v2) * 0.5, v2); }

@compute @workgroup_size(${TRANSFORM_WG})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * ${TRANSFORM_WG}u + li;
  if (i >= p.Kp * p.Np / 4u) { return; }
  let ci = i / (p.Np / 4u);
  let co4 = i % (p.Np / 4u);
  var u: array<vec4f, 16>; // u[position] = the 4 output channels
  for (var q = 0u; q < 4u; q++) {
    let co = co4 * 4u + q;
    let ok = ci < p.Cin && co < p.Cout;
    var g: array<f32, 9>; // g[ky * 3 + kx]
    for (var t = 0u; t < 9u; t++) { g[t] = select(0.0, load_w(select(0u, (t * p.Cin + ci) * p.Cout + co, ok)), ok); }
    // Columns of G g (one per kx), then G applied to each row of that: row r of G g Gᵀ.
    let c0 = gv(g[0], g[3], g[6]);
    let c1 = gv(g[1], g[4], g[7]);
    let c2 = gv(g[2], g[5], g[8]);
    for (var r = 0u; r < 4u; r++) {
      let row = gv(c0[r], c1[r], c2[r]);
      for (var c = 0u; c < 4u; c++) { u[r * 4u + c][q] = row[c]; }
    }
  }
  for (var pos = 0u; pos < 16u; pos++) { textureStore(U, vec2u(co4, ci), pos, u[pos]); }
}
`;

// The input and output transforms take 4 channels per invocation: lavapipe checks bounds per load and
// store, so one vec4 access costs about what one f32 access does. When the channel count is a multiple
// of 4, the activation is bound as array<vec4f> too (aligned: see conv2d.subgroup_vec4.ts); otherwise
// its channels are read and written one by one, masked at the channel count.
// Precision: the activation x / y is stored f32 or f16 (activation.ts), widened to f32 by ld() and
// narrowed at st(); V, M (the op's scratch) and all transform arithmetic stay f32.

/** Bᵀ applied to 4 values (here: vec4s of 4 channels), as a WGSL helper. */
const BT_WGSL = /* wgsl */ `
fn bt(a: vec4f, b: vec4f, c: vec4f, d: vec4f) -> array<vec4f, 4> { return array<vec4f, 4>(a - c, b + c, c - b, b - d); }
`;

/** V = Bᵀ d B for every tile t < Tp and channel ci < Kp of the band: x (NHWC band) -> V [16, Tp, Kp]. */
const inputWgsl = (vec4: boolean, act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
${BAND_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> x: array<${storageType(act, vec4 ? 4 : 1)}>;
@group(0) @binding(2) var<storage, read_write> V: array<vec4f>;
${BT_WGSL}
// Channels ci .. ci+3 of input pixel (n, ih, iw); zeros outside the image and past Cin.
fn ld(n: u32, ih: i32, iw: i32, ci: u32, live: bool) -> vec4f {
  let ok = live && ih >= 0 && iw >= 0 && ih < i32(p.H) && iw < i32(p.W);
  let at = select(0u, ((n * p.H + u32(ih)) * p.W + u32(iw)) * p.Cin + ci - p.inBase, ok);
${vec4
  ? '  return select(vec4f(0.0), vec4f(x[at / 4u]), ok);'
  : `  var v = vec4f(0.0);
  for (var q = 0u; q < 4u; q++) { if (ok && ci + q < p.Cin) { v[q] = f32(x[at + q]); } }
  return v;`}
}

@compute @workgroup_size(${TRANSFORM_WG})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = invocation(wid, nwg, li);
  let K4 = p.Kp / 4u;
  if (i >= p.Tp * K4) { return; }
  let t = i / K4;
  let ci = (i % K4) * 4u;
  // The tile's image, and the input coordinates of its top-left corner (one row and column of halo).
  let tr = p.tr0 + t / p.tilesW;
  let n = tr / p.tilesH;
  let ih0 = i32(2u * (tr % p.tilesH)) - 1;
  let iw0 = i32(2u * (t % p.tilesW)) - 1;
  let live = t < p.T && ci < p.Cin; // padding tiles and channels are zeros
  var d: array<array<vec4f, 4>, 4>; // d[row][column]
  for (var r = 0; r < 4; r++) {
    for (var c = 0; c < 4; c++) { d[r][c] = ld(n, ih0 + r, iw0 + c, ci, live); }
  }
  // Bᵀ d (down each column), then each row times B (= Bᵀ along the row).
  var e: array<array<vec4f, 4>, 4>;
  for (var c = 0; c < 4; c++) {
    let col = bt(d[0][c], d[1][c], d[2][c], d[3][c]);
    for (var r = 0; r < 4; r++) { e[r][c] = col[r]; }
  }
  for (var r = 0u; r < 4u; r++) {
    let v = bt(e[r][0], e[r][1], e[r][2], e[r][3]);
    for (var c = 0u; c < 4u; c++) { V[((r * 4u + c) * p.Tp + t) * K4 + ci / 4u] = v[c]; }
  }
}
`;

/** Y = Aᵀ m A + bias for every tile t < T and channel co < Cout: M [16, Tp, Np] -> y (NHWC band). */
const outputWgsl = (vec4: boolean, act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
${BAND_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> M: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<${storageType(act, vec4 ? 4 : 1)}>;
// Aᵀ applied to 4 values: the 2 outputs of a row (or column).
fn at(a: vec4f, b: vec4f, c: vec4f, d: vec4f) -> array<vec4f, 2> { return array<vec4f, 2>(a + b + c, b - c - d); }

// Stores channels co .. co+3 at element o of the output band (masked at Cout on the scalar path).
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
  var m: array<array<vec4f, 4>, 4>; // m[row][column], 4 channels each
  for (var r = 0u; r < 4u; r++) {
    for (var c = 0u; c < 4u; c++) { m[r][c] = M[(((r * 4u + c) * p.Tp + t) * p.Np + co) / 4u]; }
  }
  // Aᵀ m (down each column): 2 rows; then each row times A: the 2x2 outputs.
  var s: array<array<vec4f, 4>, 2>;
  for (var c = 0u; c < 4u; c++) {
    let col = at(m[0][c], m[1][c], m[2][c], m[3][c]);
    s[0][c] = col[0];
    s[1][c] = col[1];
  }
  let r0 = at(s[0][0], s[0][1], s[0][2], s[0][3]); // outputs (0, 0), (0, 1)
  let r1 = at(s[1][0], s[1][1], s[1][2], s[1][3]); // outputs (1, 0), (1, 1)
  let tr = p.tr0 + t / p.tilesW;
  let n = tr / p.tilesH;
  let oh = 2u * (tr % p.tilesH);
  let ow = 2u * (t % p.tilesW);
  let cb = min(vec4u(co) + vec4u(0u, 1u, 2u, 3u), vec4u(p.Cout - 1u));
  let b = vec4f(bias[cb.x], bias[cb.y], bias[cb.z], bias[cb.w]);
  let o = ((n * p.H + oh) * p.W + ow) * p.Cout + co - p.outBase;
  let right = ow + 1u < p.W; // odd widths and heights: the last tile's second column / row is outside
  st(o, co, r0[0] + b);
  if (right) { st(o + p.Cout, co, r0[1] + b); }
  if (oh + 1u < p.H) {
    st(o + p.W * p.Cout, co, r1[0] + b);
    if (right) { st(o + (p.W + 1u) * p.Cout, co, r1[1] + b); }
  }
}
`;

export const winogradWeightPipeline = (gpu: Gpu, format: WeightFormat, uFormat: 'rgba32float' | 'rgba16float' = 'rgba32float') =>
  gpu.pipeline(`winograd.weights.${format}.${uFormat}`, () => weightTransformWgsl(format, uFormat));
/** The input transform's pipeline: vec4 loads of the activation when Cin % 4 == 0. */
export const winogradInputPipeline = (gpu: Gpu, cin: number, act: ActivationDType = 'f32') =>
  cin % 4 === 0 ? gpu.pipeline(`winograd.input.vec4${dtypeKey(act)}`, inputWgsl(true, act)) : gpu.pipeline(`winograd.input${dtypeKey(act)}`, inputWgsl(false, act));
/** The output transform's pipeline: vec4 stores of the activation when Cout % 4 == 0. */
export const winogradOutputPipeline = (gpu: Gpu, cout: number, act: ActivationDType = 'f32') =>
  cout % 4 === 0 ? gpu.pipeline(`winograd.output.vec4${dtypeKey(act)}`, outputWgsl(true, act)) : gpu.pipeline(`winograd.output${dtypeKey(act)}`, outputWgsl(false, act));
