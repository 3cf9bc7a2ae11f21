// GroupNorm (+ optional scale/shift from a time embedding, + optional SiLU), NHWC.
//
//   y = (x - mean_g) / sqrt(var_g + eps) * weight[c] + bias[c]       mean/var over (C/G channels x H x W)
//   y = y * (1 + scale[n, c]) + shift[n, c]                          (scale_shift resnets, optional)
//   y = silu(y)                                                       (optional)
//
// Variance is computed without the cancellation of E[x^2] - E[x]^2 (which fails the reference's
// mean-offset-50 case): each invocation runs Welford's update over its elements, the workgroup merges
// those with Chan's pairwise formula, and a second kernel merges the per-chunk results the same way.
//
// Three kernels:
//   1. stats:    per image row -> (count, mean, M2) partials for each group
//   2. finalize: one invocation per (n, g) merges its rows -> (mean, 1/sqrt(var + eps))
//   3. apply:    (x − mean)·rstd·γ + β (+ scale/shift, + SiLU), in bands of rows
// Stats and apply have a row kernel (one workgroup per image row, each invocation owning 4 channels,
// vec4 loads, no per-element index arithmetic: the fast path, for C a multiple of 4 up to 1024) and a
// scalar fallback for other channel counts; rows of 1028..2048 channels (U = 257..512 units of 4)
// have wide row kernels (group_norm.wide.ts), in which each invocation owns two units in turn.
// Partials depend only on the image size, never on the binding limit, so banded and unbanded runs do
// the same arithmetic and give identical results.
// Precision: x and y are stored f32 or f16 (activation.ts); x is widened to f32 as it is loaded, the
// statistics (Welford partials, mean, rstd), gamma, beta, the time embedding's scale/shift and all
// arithmetic are f32; y is narrowed once at the store.

import type { Gpu } from '../gpu/gpu.js';
import { planBands } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { activationDType, dtypeKey, enableF16, storageType, type ActivationDType } from './activation.js';
import { applyPixelWgsl, mergeGroupsWgsl, rowApplyBindings, unitCoefficientsWgsl, WIDE_MAX_UNITS, wideApplyWgsl, wideStatsWgsl } from './group_norm.wide.js';

/** `wide: false` sends rows of more than 1024 channels back to the scalar kernels (A/B benchmarks). */
export const groupNormPolicy = { wide: true };

export interface GroupNormOptions {
  groups: number;
  eps: number;
  silu?: boolean;
  /** [N, 2C]: scale = [:, :C], shift = [:, C:] (ResnetBlock2D time_embedding_norm="scale_shift"). */
  scaleShift?: Tensor;
}

const CHAN = /* wgsl */ `
// Chan et al.: merge two (count, mean, M2) summaries.
fn merge(a: vec3f, b: vec3f) -> vec3f {
  let n = a.x + b.x;
  if (n == 0.0) { return a; }
  let d = b.y - a.y;
  return vec3f(n, a.y + d * (b.x / n), a.z + b.z + d * d * (a.x * b.x / n));
}`;

// Scalar stats (any C/G): one workgroup per (row, group), each invocation a strided Welford.
const statsWgsl = (act: ActivationDType) => () => /* wgsl */ `${enableF16(act)}
struct Params { H: u32, W: u32, C: u32, G: u32, rowsPerChunk: u32, chunksPerImage: u32, chunk0: u32, nChunks: u32, inBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${act}>;  // NHWC, a band of chunks
@group(0) @binding(2) var<storage, read_write> partial: array<vec4f>;  // [N*chunksPerImage, G]: (count, mean, M2, -)
${CHAN}
${LINEAR_WORKGROUP}
var<workgroup> acc: array<vec3f, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lin = linear_workgroup(wid, nwg);      // workgroups: (chunk, group), group fastest
  if (lin >= p.nChunks * p.G) { return; }
  let g = lin % p.G;
  let chunk = p.chunk0 + lin / p.G;
  let n = chunk / p.chunksPerImage;
  let h0 = (chunk % p.chunksPerImage) * p.rowsPerChunk;
  let h1 = min(p.H, h0 + p.rowsPerChunk);
  let cpg = p.C / p.G;
  let count = (h1 - h0) * p.W * cpg;
  let start = (n * p.H + h0) * p.W * p.C + g * cpg - p.inBase;
  var s = vec3f(0.0);                        // Welford: (count, mean, M2)
  for (var e = lid; e < count; e += 256u) {
    let v = f32(x[start + (e / cpg) * p.C + e % cpg]);
    s.x += 1.0;
    let d = v - s.y;
    s.y += d / s.x;
    s.z += d * (v - s.y);
  }
  acc[lid] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { acc[lid] = merge(acc[lid], acc[lid + stride]); }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[chunk * p.G + g] = vec4f(acc[0], 0.0); }
}`;

// Row stats (C/V <= 256 units of V = 4, 2 or 1 channels of one group): one workgroup per image row for
// all groups. Invocation t owns unit t % U and walks the row's pixels t / U, t / U + slots, ...: its
// channels, hence its group, stay fixed, so the loop has no division, and each vector load (the
// expensive part on lavapipe, where loads are emulated lane by lane) enters Welford as a batch of V
// merged with Chan's formula. Then the pixel slots of each unit are merged, then the units of a group.
const rowStatsWgsl = (V: 1 | 2 | 4, act: ActivationDType) => /* wgsl */ `${enableF16(act)}
struct Params { H: u32, W: u32, U: u32, G: u32, slots: u32, chunk0: u32, nChunks: u32, inBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${storageType(act, V)}>;  // NHWC as units of V channels, a band of rows
@group(0) @binding(2) var<storage, read_write> partial: array<vec4f>;  // [N*H, G]: (count, mean, M2, -)
${CHAN}
${LINEAR_WORKGROUP}
var<workgroup> acc: array<vec3f, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lin = linear_workgroup(wid, nwg);
  if (lin >= p.nChunks) { return; }
  let row = p.chunk0 + lin;                  // n * H + h
  let unit = t % p.U;
  let slot = t / p.U;
  var s = vec3f(0.0);
  if (slot < p.slots) {
    var i = row * p.W * p.U + slot * p.U + unit - p.inBase / ${V}u;
    for (var px = slot; px < p.W; px += p.slots) {
      let v = ${V === 1 ? 'f32' : `vec${V}f`}(x[i]);
      ${V === 1 ? 's = merge(s, vec3f(1.0, v, 0.0));' : `let m = dot(v, vec${V}f(${1 / V})); // batch mean
      let dv = v - vec${V}f(m);
      s = merge(s, vec3f(${V}.0, m, dot(dv, dv)));`}
      i += p.slots * p.U;
    }
  }
  acc[t] = s;
  workgroupBarrier();
  if (slot == 0u) {                          // merge the pixel slots of this unit
    for (var k = 1u; k < p.slots; k++) { s = merge(s, acc[unit + k * p.U]); }
    acc[unit] = s;
  }
  workgroupBarrier();
${mergeGroupsWgsl}
}`;

const finalizeWgsl = () => /* wgsl */ `
struct Params { NG: u32, G: u32, chunksPerImage: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partial: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> stats: array<vec2f>;    // [N, G]: (mean, rstd)
${CHAN}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let ng = gid.x;
  if (ng >= p.NG) { return; }
  let n = ng / p.G; let g = ng % p.G;
  var s = vec3f(0.0);
  for (var c = 0u; c < p.chunksPerImage; c++) { s = merge(s, partial[(n * p.chunksPerImage + c) * p.G + g].xyz); }
  stats[ng] = vec2f(s.y, inverseSqrt(s.z / s.x + p.eps));  // biased variance, as torch
}`;

// Scalar apply (any C): one invocation per element, in flat bands.
const applyWgsl = (silu: boolean, scaleShift: boolean, act: ActivationDType) => /* wgsl */ `${enableF16(act)}
struct Params { HWC: u32, C: u32, G: u32, count: u32, e0: u32, inBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${act}>;
@group(0) @binding(2) var<storage, read> stats: array<vec2f>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<${act}>;
${scaleShift ? '@group(0) @binding(6) var<storage, read> ss: array<f32>;  // [N, 2C]' : ''}
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * 256u + lid;
  if (i >= p.count) { return; }
  let e = p.e0 + i;                           // global element index
  let n = e / p.HWC; let c = e % p.C;
  let st = stats[n * p.G + c / (p.C / p.G)];
  var v = (f32(x[e - p.inBase]) - st.x) * st.y * gamma[c] + beta[c];
  ${scaleShift ? 'v = v * (1.0 + ss[n * 2u * p.C + c]) + ss[n * 2u * p.C + p.C + c];' : ''}
  ${silu ? 'v = v / (1.0 + exp(-v));         // silu, as in elementwise.ts' : ''}
  y[e - p.outBase] = ${act}(v);
}`;

// Row apply (C a multiple of 4, C <= 1024): one workgroup per image row; invocation t owns channel unit
// t % U for the whole row, so its statistics, gamma, beta (and scale/shift) are loaded once and the
// pixel loop is one vec4 load, a few FMAs and one store.
const rowApplyWgsl = (silu: boolean, scaleShift: boolean, act: ActivationDType) => /* wgsl */ `${enableF16(act)}
${rowApplyBindings(scaleShift, act)}
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lin = linear_workgroup(wid, nwg);
  let unit = t % p.U;
  let slot = t / p.U;
  if (lin >= p.rows || slot >= p.slots) { return; }
  let row = p.row0 + lin;
  let n = row / p.H;
  ${unitCoefficientsWgsl(scaleShift)}
  var i = row * p.W * p.U + slot * p.U + unit;
  for (var px = slot; px < p.W; px += p.slots) {
    ${applyPixelWgsl(silu, scaleShift, act)}
    i += p.slots * p.U;
  }
}`;

/** x [N, H, W, C] -> y, same shape. weight/bias [C]. */
export function groupNorm(gpu: Gpu, x: Tensor, weight: Tensor, bias: Tensor, o: GroupNormOptions, label = 'group_norm'): Tensor {
  const [n, h, w, c] = x.shape;
  if (c % o.groups !== 0) throw new Error(`${label}: ${c} channels are not divisible into ${o.groups} groups`);
  if (weight.size !== c || bias.size !== c) throw new Error(`${label}: weight/bias must have ${c} values`);
  if (o.scaleShift && o.scaleShift.dtype !== 'f32') throw new Error(`${label}: scale/shift must be f32 (the time embedding path stays f32), got ${o.scaleShift.dtype}`);
  if (o.scaleShift && o.scaleShift.size !== n * 2 * c) throw new Error(`${label}: scale/shift must be [${n}, ${2 * c}], got [${o.scaleShift.shape}]`);
  const cpg = c / o.groups;
  const units = c / 4;
  const rowKernels = c % 4 === 0 && units <= 256;
  const slots = Math.floor(256 / units);
  // Statistics are merged per image row: the smallest unit a band can hold, so any binding limit that
  // fits a row works, and the merge order (hence every rounding) is the same however rows are banded.
  const rows = n * h;
  const rowElems = w * c;
  const partial = gpu.empty([rows, o.groups, 4], `${label}.partial`);
  const stats = gpu.empty([n, o.groups, 2], `${label}.stats`);
  const act = activationDType(x, label);
  const y = gpu.empty(x.shape, label, act); // partials and statistics stay f32
  const dk = dtypeKey(act);
  const tag = `${label} [${x.shape}] g${o.groups}${o.scaleShift ? ' scale_shift' : ''}${o.silu ? ' silu' : ''}`;

  const statsBands = planBands(gpu, rows, (r0, r1) => [[r0 * rowElems, r1 * rowElems]], tag);
  const V = cpg % 4 === 0 ? 4 : cpg % 2 === 0 ? 2 : 1; // channels per load in the row stats kernel
  const statsUnits = c / V;
  const vecStats = statsUnits <= 256 && (V === 1 || gpu.storageAlign % ((act === 'f16' ? 2 : 4) * V) === 0);
  // Rows of 1028..2048 channels (4 per unit, 4 per group load): the wide row kernels (group_norm.wide.ts).
  const wide = groupNormPolicy.wide && V === 4 && units > 256 && units <= WIDE_MAX_UNITS && gpu.storageAlign % ((act === 'f16' ? 2 : 4) * 4) === 0;
  gpu.op(`${tag} stats`, (pass) => {
    const pipe = wide
      ? gpu.pipeline(`group_norm.stats.wide${dk}`, () => wideStatsWgsl(act, CHAN))
      : vecStats ? gpu.pipeline(`group_norm.stats.row${V}${dk}`, () => rowStatsWgsl(V, act)) : gpu.pipeline(`group_norm.stats${dk}`, statsWgsl(act));
    for (const { r0, r1 } of statsBands) {
      const xb = gpu.bind(x, r0 * rowElems, r1 * rowElems);
      const params = wide
        ? packParams([h, w, units, o.groups, 1, r0, r1 - r0, xb.base])
        : vecStats
        ? packParams([h, w, statsUnits, o.groups, Math.floor(256 / statsUnits), r0, r1 - r0, xb.base])
        : packParams([h, w, c, o.groups, 1, h, r0, r1 - r0, xb.base]);
      gpu.dispatch(pass, pipe, params, [xb.binding, gpu.bindWhole(partial)], vecStats || wide ? r1 - r0 : (r1 - r0) * o.groups);
    }
    const fin = gpu.pipeline('group_norm.finalize', finalizeWgsl);
    gpu.dispatch(pass, fin, packParams([n * o.groups, o.groups, h, { f32: o.eps }]), [gpu.bindWhole(partial), gpu.bindWhole(stats)], Math.ceil((n * o.groups) / 64));
  });

  const key = `${o.silu ? '.silu' : ''}${o.scaleShift ? '.ss' : ''}`;
  const extra = o.scaleShift ? [gpu.bindWhole(o.scaleShift)] : [];
  if (rowKernels || wide) {
    const bands = planBands(gpu, rows, (r0, r1) => [[r0 * rowElems, r1 * rowElems]], tag);
    gpu.op(`${tag} apply`, (pass) => {
      const pipe = wide
        ? gpu.pipeline(`group_norm.apply.wide${key}${dk}`, () => wideApplyWgsl(!!o.silu, !!o.scaleShift, act))
        : gpu.pipeline(`group_norm.apply.row${key}${dk}`, () => rowApplyWgsl(!!o.silu, !!o.scaleShift, act));
      for (const { r0, r1 } of bands) {
        const [xb, yb] = [gpu.bind(x, r0 * rowElems, r1 * rowElems), gpu.bind(y, r0 * rowElems, r1 * rowElems)];
        const bindings = [xb.binding, gpu.bindWhole(stats), gpu.bindWhole(weight), gpu.bindWhole(bias), yb.binding, ...extra];
        gpu.dispatch(pass, pipe, packParams([h, w, units, o.groups, slots, r0, r1 - r0, xb.base, yb.base]), bindings, r1 - r0);
      }
    });
  } else {
    const bands = planBands(gpu, x.size, (e0, e1) => [[e0, e1]], tag);
    gpu.op(`${tag} apply`, (pass) => {
      const pipe = gpu.pipeline(`group_norm.apply${key}${dk}`, () => applyWgsl(!!o.silu, !!o.scaleShift, act));
      for (const { r0, r1 } of bands) {
        const [xb, yb] = [gpu.bind(x, r0, r1), gpu.bind(y, r0, r1)];
        const bindings = [xb.binding, gpu.bindWhole(stats), gpu.bindWhole(weight), gpu.bindWhole(bias), yb.binding, ...extra];
        gpu.dispatch(pass, pipe, packParams([h * w * c, c, o.groups, r1 - r0, r0, xb.base, yb.base]), bindings, Math.ceil((r1 - r0) / 256));
      }
    });
  }
  partial.release();
  stats.release();
  return y;
}
