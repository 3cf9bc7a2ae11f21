// Group norm's row kernels for rows wider than one workgroup: C = 4·U channels with 256 < U <= 512
// units of 4 (1028..2048 channels: the consistency UNet's up-block resnets, whose first norm sees the
// concatenation of the block's input and a skip, 1280, 1664 or 2048 channels). group_norm.ts's row
// kernels give each of the 256 invocations one unit (or several pixel slots of one); here each
// invocation owns units t and t + 256 in turn, for the whole row, so every load is still one vec4 with
// no per-element index arithmetic. Before these, such rows took the scalar kernels (one invocation per
// element, a division and a modulo per load): docs/benchmarks.md, "Hot spots outside Winograd".
//
// Stats: per unit a Welford summary over the row's pixels (each vec4 entering as a batch of 4, merged
// with Chan's formula, as in the row kernel), kept in workgroup memory; then invocation g < G merges its
// group's units in order. Per image row, so bands do not change the arithmetic. Apply: as the row
// kernel, unit by unit. Precision as group_norm.ts: f32 statistics and arithmetic, x and y stored f32
// or f16.

import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { enableF16, storageType, type ActivationDType } from './activation.js';

/** Most units of 4 channels a wide row kernel handles (workgroup memory: one vec3f per unit). */
export const WIDE_MAX_UNITS = 512;

/** Params as the row stats kernel: (H, W, U, G, slots (unused: 1), chunk0, nChunks, inBase). */
export const wideStatsWgsl = (act: ActivationDType, chan: string) => /* wgsl */ `${enableF16(act)}
struct Params { H: u32, W: u32, U: u32, G: u32, slots: u32, chunk0: u32, nChunks: u32, inBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${storageType(act, 4)}>;  // NHWC as units of 4 channels, a band of rows
@group(0) @binding(2) var<storage, read_write> partial: array<vec4f>;  // [N*H, G]: (count, mean, M2, -)
${chan}
${LINEAR_WORKGROUP}
var<workgroup> acc: array<vec3f, ${WIDE_MAX_UNITS}>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lin = linear_workgroup(wid, nwg);
  if (lin >= p.nChunks) { return; }          // uniform per workgroup
  let row = p.chunk0 + lin;                  // n * H + h
  for (var unit = t; unit < p.U; unit += 256u) {
    var s = vec3f(0.0);
    var i = row * p.W * p.U + unit - p.inBase / 4u;
    for (var px = 0u; px < p.W; px++) {
      let v = vec4f(x[i]);
      let m = dot(v, vec4f(0.25));           // batch mean
      let dv = v - vec4f(m);
      s = merge(s, vec3f(4.0, m, dot(dv, dv)));
      i += p.U;
    }
    acc[unit] = s;
  }
  workgroupBarrier();
${mergeGroupsWgsl}
}`;

/**
 * The row stats kernels' last step (group_norm.ts's and this file's): invocation t < G merges the
 * per-unit (count, mean, M2) triples of group t in acc and writes the row's partial for it.
 */
export const mergeGroupsWgsl = /* wgsl */ `  let per = p.U / p.G;                       // units per group
  if (t < p.G) {
    var g = acc[t * per];
    for (var k = 1u; k < per; k++) { g = merge(g, acc[t * per + k]); }
    partial[row * p.G + t] = vec4f(g, 0.0);
  }`;

/** The row apply kernels' params and bindings (group_norm.ts's and this file's). */
export const rowApplyBindings = (scaleShift: boolean, act: ActivationDType) => /* wgsl */ `struct Params { H: u32, W: u32, U: u32, G: u32, slots: u32, row0: u32, rows: u32, inBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${storageType(act, 4)}>;
@group(0) @binding(2) var<storage, read> stats: array<vec2f>;
@group(0) @binding(3) var<storage, read> gamma: array<vec4f>;
@group(0) @binding(4) var<storage, read> beta: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> y: array<${storageType(act, 4)}>;
${scaleShift ? '@group(0) @binding(6) var<storage, read> ss: array<vec4f>;  // [N, 2C]' : ''}`;

/**
 * The row apply kernels' per-unit coefficients (expects `n`, the image, and `unit`, the 4-channel unit,
 * in scope): each channel's group statistics, `a` = rstd * gamma and `b` = beta, so y = (x - mean) * a + b,
 * then (scaleShift) the conditioning's `scale` and `shift`.
 */
export const unitCoefficientsWgsl = (scaleShift: boolean) => /* wgsl */ `let cpg = 4u * p.U / p.G;
  let c = unit * 4u;
  let s0 = stats[n * p.G + c / cpg]; let s1 = stats[n * p.G + (c + 1u) / cpg];
  let s2 = stats[n * p.G + (c + 2u) / cpg]; let s3 = stats[n * p.G + (c + 3u) / cpg];
  let mean = vec4f(s0.x, s1.x, s2.x, s3.x);
  let a = vec4f(s0.y, s1.y, s2.y, s3.y) * gamma[unit];
  let b = beta[unit];
  ${scaleShift ? 'let scale = 1.0 + ss[n * 2u * p.U + unit]; let shift = ss[n * 2u * p.U + p.U + unit];' : ''}`;

/** One pixel's vec4 at element index i, normalised (+ scale/shift, + SiLU) and stored as `act`. */
export const applyPixelWgsl = (silu: boolean, scaleShift: boolean, act: ActivationDType) => /* wgsl */ `var v = (vec4f(x[i - p.inBase / 4u]) - mean) * a + b;
    ${scaleShift ? 'v = v * scale + shift;' : ''}
    ${silu ? 'v = v / (1.0 + exp(-v)); // silu' : ''}
    y[i - p.outBase / 4u] = ${storageType(act, 4)}(v);`;

/** Params as the row apply kernel: (H, W, U, G, slots (unused), row0, rows, inBase, outBase). */
export const wideApplyWgsl = (silu: boolean, scaleShift: boolean, act: ActivationDType) => /* wgsl */ `${enableF16(act)}
${rowApplyBindings(scaleShift, act)}
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lin = linear_workgroup(wid, nwg);
  if (lin >= p.rows) { return; }
  let row = p.row0 + lin;
  let n = row / p.H;
  for (var unit = t; unit < p.U; unit += 256u) {
    ${unitCoefficientsWgsl(scaleShift)}
    var i = row * p.W * p.U + unit;
    for (var px = 0u; px < p.W; px++) {
      ${applyPixelWgsl(silu, scaleShift, act)}
      i += p.U;
    }
  }
}`;
