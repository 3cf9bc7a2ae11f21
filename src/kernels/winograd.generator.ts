// The Winograd transforms' WGSL, generated from their matrices (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015). An m x m block of outputs of a 3x3 convolution is computed
// from the (m+2) x (m+2) input tile d around it as
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (⊙: element-wise, summed over input channels)
//
// F(2x2, 3x3) (winograd.transforms.ts) and F(4x4, 3x3) (winograd4.transforms.ts) are this file applied
// to their Bᵀ, G and Aᵀ: three kernels each, one invocation per (tile, 4 channels), channels fastest
// so neighbouring invocations touch neighbouring addresses.
//
//   weights  U = G g Gᵀ   w [9 * Cin, Cout] -> U [P positions][Kp rows, Np / 4 texels] (staged in a buffer)
//   input    V = Bᵀ d B   x (NHWC band)     -> V [P, Tp, Kp]
//   output   Y = Aᵀ M A   M [P, Tp, Np]     -> y (NHWC band), + bias
//
// Each matrix-vector product becomes one WGSL expression (`dot`): terms in column order, zero
// coefficients skipped, ±1 without a multiply, G's rows as integer combinations over one denominator
// (one rounding). The input and output tiles are straight-line code (named values, not arrays):
// lavapipe keeps dynamically indexed arrays in memory. The transforms take 4 channels per invocation:
// lavapipe checks bounds per load and store, so one vec4 access costs about what one f32 access does;
// when the channel count is a multiple of 4 the activation is bound as vec4s too (aligned: see
// conv2d.subgroup_vec4.ts), otherwise its channels are read and written one by one, masked at the
// channel count. Precision: x / y are stored f32 or f16 (activation.ts), widened at the load and
// narrowed at the store; V, M (the op's scratch) and all transform arithmetic stay f32.

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';
import { weightWgsl, type WeightFormat } from './weight_format.js';

export const TRANSFORM_WG = 64;

/** One F(m x m, 3x3): its matrices and the pipelines' key prefix. */
export interface WinogradMatrices {
  /** Pipeline key prefix: 'winograd' (F(2x2)) or 'winograd4' (F(4x4)). */
  key: string;
  /** m: outputs per tile side. The input tile is m + 2 wide. */
  tile: number;
  /** Bᵀ, (m+2) x (m+2): V = Bᵀ d B. */
  BT: number[][];
  /** G, (m+2) x 3, as integer rows over a denominator: G[j] = G_NUM[j] / G_DEN[j]. */
  G_NUM: number[][];
  G_DEN: number[];
  /** Aᵀ, m x (m+2): Y = Aᵀ M A. */
  AT: number[][];
  /**
   * Whether the input transform has a `split` pipeline reading the band from two bindings (rows before /
   * from `midRow`): F(4x4)'s tile rows read 6 input rows, so winograd.ts may split a band's input to fit
   * the binding limit (only those bands take it; the others, one binding).
   */
  splitInput: boolean;
}

const range = (n: number) => [...Array(n).keys()];
const grid = (rows: number, cols: number, f: (r: number, c: number) => string) =>
  range(rows * cols).map((i) => f(Math.floor(i / cols), i % cols)).join('\n');
const lit = (c: number) => (Number.isInteger(c) ? `${c}.0` : `${c}`);

/** WGSL expression of row · (args): terms in column order, zeros skipped, ±1 without a multiply. */
export function dot(row: number[], args: string[]): string {
  let e = '';
  row.forEach((c, j) => {
    if (c === 0) return;
    const mag = Math.abs(c) === 1 ? args[j] : `${lit(Math.abs(c))} * ${args[j]}`;
    e += e === '' ? (c < 0 ? `-${Math.abs(c) === 1 ? args[j] : `(${mag})`}` : mag) : ` ${c < 0 ? '-' : '+'} ${mag}`;
  });
  return e;
}

/** Band geometry shared by the input and output transforms (packParams order in winograd.ts). */
const bandParamsWgsl = (w: WinogradMatrices) => /* wgsl */ `
struct Params {
  H: u32, W: u32, Cin: u32, Cout: u32,
  tilesH: u32, tilesW: u32,  // tiles per image: ceil(H / ${w.tile}) x ceil(W / ${w.tile})
  tr0: u32,                  // first tile row of this band, flattened (n * tilesH + th)
  T: u32, Tp: u32,           // tiles in this band, and rounded up to the GEMM tile's rows
  Kp: u32, Np: u32,          // Cin and Cout rounded up to 32
  inBase: u32, outBase: u32, // element index where the bound input / output range starts
  midRow: u32, inBaseB: u32, // ${w.splitInput ? 'input rows (flattened n * H + h) from midRow on are read from xb (base inBaseB)' : 'unused here (one input binding)'}
}
@group(0) @binding(0) var<uniform> p: Params;
${LINEAR_WORKGROUP}
fn invocation(wid: vec3u, nwg: vec3u, li: u32) -> u32 { return linear_workgroup(wid, nwg) * ${TRANSFORM_WG}u + li; }
`;

/**
 * U = G g Gᵀ for the input channels c0 .. c0 + rows - 1 (every output channel, zero padded), into a
 * staging buffer S [P positions][rows][stride texels] that winograd.weights.ts then copies into U's
 * texture (lavapipe stores to a storage texture ~10x slower than to a buffer, and a buffer-to-texture
 * copy is a memcpy: measured in docs/benchmarks.md). One invocation per ci and 4 output channels,
 * straight-line code on vec4s (the 4 channels): the 9 taps g{t} (t = ky * 3 + kx), the columns
 * c{r}_{kx} of G g, then row r of (G g) Gᵀ. `vec4`: Cout % 4 == 0, so the 4 channels of a tap are one
 * aligned vec4 load; otherwise 4 loads masked at Cout. Texels are f32, or (rgba16float) two
 * pack2x16float words. Per component the arithmetic is G applied down the columns, then along the rows.
 */
const weightWgslOf = (w: WinogradMatrices, format: WeightFormat, uFormat: string, vec4: boolean) => {
  const n = w.tile + 2;
  const over = (e: string, den: number) => (den !== 1 ? `(${e}) / ${lit(den)}` : e);
  const tap = (t: number) =>
    vec4
      ? `select(vec4f(0.0), load_w4(select(0u, (${t}u * p.Cin + ci) * (p.Cout / 4u) + co4, live)), live)`
      : `vec4f(${range(4).map((q) => `select(0.0, load_w(select(0u, (${t}u * p.Cin + ci) * p.Cout + co4 * 4u + ${q}u, live && co4 * 4u + ${q}u < p.Cout)), live && co4 * 4u + ${q}u < p.Cout)`).join(', ')})`;
  const half = uFormat === 'rgba16float';
  return /* wgsl */ `
struct Params { Cin: u32, Cout: u32, Kp: u32, Np: u32, c0: u32, rows: u32, stride: u32 } // stride: texels per row of S
@group(0) @binding(0) var<uniform> p: Params;
${weightWgsl(1, 'w', format, vec4)}
@group(0) @binding(2) var<storage, read_write> S: array<${half ? 'vec2u' : 'vec4f'}>; // ${uFormat} texels
${LINEAR_WORKGROUP}
fn st(pos: u32, row: u32, co4: u32, v: vec4f) { S[(pos * p.rows + row) * p.stride + co4] = ${half ? 'vec2u(pack2x16float(v.xy), pack2x16float(v.zw))' : 'v'}; }

@compute @workgroup_size(${TRANSFORM_WG})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * ${TRANSFORM_WG}u + li;
  if (i >= p.rows * p.Np / 4u) { return; }
  let row = i / (p.Np / 4u);
  let ci = p.c0 + row;
  let co4 = i % (p.Np / 4u);
  let live = ci < p.Cin && co4 * 4u < p.Cout; // zeros in the padding
${range(9).map((t) => `  let g${t} = ${tap(t)};`).join('\n')}
  // Column kx of G g: G applied to (g{kx}, g{3 + kx}, g{6 + kx}).
${grid(n, 3, (r, kx) => `  let c${r}_${kx} = ${over(dot(w.G_NUM[r], [`g${kx}`, `g${3 + kx}`, `g${6 + kx}`]), w.G_DEN[r])};`)}
  // Row r of (G g) Gᵀ: G applied to row r of G g; position r * ${n} + c.
${grid(n, n, (r, c) => `  st(${r * n + c}u, row, co4, ${over(dot(w.G_NUM[c], [`c${r}_0`, `c${r}_1`, `c${r}_2`]), w.G_DEN[c])});`)}
}
`;
};

/** V = Bᵀ d B for every tile t < Tp and channel ci < Kp of the band: x (NHWC band) -> V [P, Tp, Kp]. */
const inputWgslOf = (w: WinogradMatrices, vec4: boolean, act: ActivationDType, split: boolean) => () => {
  const n = w.tile + 2;
  const elem = storageType(act, vec4 ? 4 : 1);
  const cols = range(n);
  // `into = load` from one binding, or from one of two (rows before midRow from x, from midRow on
  // from xb): a branch, not a select, so a GPU loads only one (lavapipe runs both sides of a divergent
  // branch, which is why winograd.ts gives unsplit bands the one-binding pipeline).
  const read = (into: string, i: string, wrap: string) =>
    split ? `if (second) { ${into} = ${wrap}(xb[${i}]); } else { ${into} = ${wrap}(x[${i}]); }` : `${into} = ${wrap}(x[${i}]);`;
  return /* wgsl */ `${enableF16(act)}
${bandParamsWgsl(w)}
@group(0) @binding(1) var<storage, read> x: array<${elem}>;${split ? '  // input rows before midRow' : ''}
${split ? `@group(0) @binding(2) var<storage, read> xb: array<${elem}>; // from midRow on (see winograd.ts)\n` : ''}@group(0) @binding(${split ? 3 : 2}) var<storage, read_write> V: array<vec4f>;
// Channels ci .. ci+3 of input pixel (n, ih, iw); zeros outside the image and past Cin.
fn ld(n: u32, ih: i32, iw: i32, ci: u32, live: bool) -> vec4f {
  let ok = live && ih >= 0 && iw >= 0 && ih < i32(p.H) && iw < i32(p.W);
  let gr = n * p.H + u32(ih);
${split ? '  let second = gr >= p.midRow;\n' : ''}  let at = select(0u, (gr * p.W + u32(iw)) * p.Cin + ci - ${split ? 'select(p.inBase, p.inBaseB, second)' : 'p.inBase'}, ok);
  var v = vec4f(0.0);
${vec4
  ? `  if (ok) { ${read('v', 'at / 4u', 'vec4f')} }`
  : `  for (var q = 0u; q < 4u; q++) { if (ok && ci + q < p.Cin) { ${read('v[q]', 'at + q', 'f32')} } }`}
  return v;
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
  let ih0 = i32(${w.tile}u * (tr % p.tilesH)) - 1;
  let iw0 = i32(${w.tile}u * (t % p.tilesW)) - 1;
  let live = t < p.T && ci < p.Cin; // padding tiles and channels are zeros
  // d: the ${n}x${n} tile; e = Bᵀ d (down each column); V = e B (Bᵀ along each row).
${grid(n, n, (r, c) => `  let d${r}${c} = ld(n, ih0 + ${r}, iw0 + ${c}, ci, live);`)}
${grid(n, n, (r, c) => `  let e${r}${c} = ${dot(w.BT[r], cols.map((j) => `d${j}${c}`))};`)}
  let vt = t * K4 + ci / 4u;
  let vs = p.Tp * K4; // V's stride between positions
${grid(n, n, (r, c) => `  V[${r * n + c}u * vs + vt] = ${dot(w.BT[c], cols.map((j) => `e${r}${j}`))};`)}
}
`;
};

/** Y = Aᵀ M A + bias for every tile t < T and channel co < Cout: M [P, Tp, Np] -> y (NHWC band). */
const outputWgslOf = (w: WinogradMatrices, vec4: boolean, act: ActivationDType) => () => {
  const [m, n] = [w.tile, w.tile + 2];
  const cols = range(n);
  return /* wgsl */ `${enableF16(act)}
${bandParamsWgsl(w)}
@group(0) @binding(1) var<storage, read> M: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<${storageType(act, vec4 ? 4 : 1)}>;
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
  // m: the ${n * n} positions; s = Aᵀ m (down each column); Y = s A (Aᵀ along each row).
  let ms = p.Tp * p.Np / 4u; // M's stride between positions
  let mt = t * (p.Np / 4u) + co / 4u;
${grid(n, n, (r, c) => `  let m${r}${c} = M[${r * n + c}u * ms + mt];`)}
${grid(m, n, (r, c) => `  let s${r}${c} = ${dot(w.AT[r], cols.map((j) => `m${j}${c}`))};`)}
  let tr = p.tr0 + t / p.tilesW;
  let n = tr / p.tilesH;
  let oh = ${m}u * (tr % p.tilesH);
  let ow = ${m}u * (t % p.tilesW);
  let cb = min(vec4u(co) + vec4u(0u, 1u, 2u, 3u), vec4u(p.Cout - 1u));
  let b = vec4f(bias[cb.x], bias[cb.y], bias[cb.z], bias[cb.w]);
  let o = ((n * p.H + oh) * p.W + ow) * p.Cout + co - p.outBase;
  // Edge tiles: rows / columns past the image (H or W not a multiple of ${m}) are not stored.
  let rows = min(${m}u, p.H - oh);
  let cols = min(${m}u, p.W - ow);
${grid(m, m, (r, c) => `  if (${r}u < rows && ${c}u < cols) { st(o + ${r === 0 ? '' : `${r}u * p.W * p.Cout + `}${c}u * p.Cout, co, ${dot(w.AT[c], cols.map((j) => `s${r}${j}`))} + b); }`)}
}
`;
};

/** The three pipelines of one F(m x m, 3x3), cached by the Gpu under `${key}.weights|input|output...`. */
export function winogradPipelines(w: WinogradMatrices) {
  return {
    /** vec4 loads of the weight when Cout % 4 == 0. */
    weight: (gpu: Gpu, format: WeightFormat, cout: number, uFormat: 'rgba32float' | 'rgba16float' = 'rgba32float') =>
      gpu.pipeline(`${w.key}.weights${cout % 4 === 0 ? '.vec4' : ''}.${format}.${uFormat}`, () => weightWgslOf(w, format, uFormat, cout % 4 === 0)),
    /**
     * vec4 loads of the activation when Cin % 4 == 0. `split`: the band's input comes in two bindings
     * (only where the matrices allow it, `splitInput`); otherwise one, with no per-load branch between
     * the two (lavapipe runs both sides of a divergent branch, so a split pipeline pays for two loads).
     */
    input: (gpu: Gpu, cin: number, act: ActivationDType = 'f32', split = false) => {
      if (split && !w.splitInput) throw new Error(`${w.key}: the input transform has one input binding (splitInput is false)`);
      return gpu.pipeline(`${w.key}.input${cin % 4 === 0 ? '.vec4' : ''}${split ? '.split' : ''}${dtypeKey(act)}`, inputWgslOf(w, cin % 4 === 0, act, split));
    },
    /** vec4 stores of the activation when Cout % 4 == 0. */
    output: (gpu: Gpu, cout: number, act: ActivationDType = 'f32') =>
      gpu.pipeline(`${w.key}.output${cout % 4 === 0 ? '.vec4' : ''}${dtypeKey(act)}`, outputWgslOf(w, cout % 4 === 0, act)),
  };
}
