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
//   1. stats:    one workgroup per (row of image n, group g) -> (count, mean, M2) partials
//   2. finalize: one invocation per (n, g) merges its chunks -> (mean, 1/sqrt(var + eps))
//   3. apply:    elementwise, in bands of rows
// The chunks depend only on the image size, never on the binding limit, so banded and unbanded runs
// do the same arithmetic and give identical results.

import type { Gpu } from '../gpu/gpu.js';
import { planBands } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { SILU_WGSL } from './elementwise.js';

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

const statsWgsl = () => /* wgsl */ `
struct Params { H: u32, W: u32, C: u32, G: u32, rowsPerChunk: u32, chunksPerImage: u32, chunk0: u32, nChunks: u32, inBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;               // NHWC, a band of chunks
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
    let v = x[start + (e / cpg) * p.C + e % cpg];
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

const applyWgsl = (silu: boolean, scaleShift: boolean) => /* wgsl */ `
struct Params { HWC: u32, C: u32, G: u32, count: u32, e0: u32, inBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<vec2f>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
${scaleShift ? '@group(0) @binding(6) var<storage, read> ss: array<f32>;  // [N, 2C]' : ''}
${SILU_WGSL}
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * 256u + lid;
  if (i >= p.count) { return; }
  let e = p.e0 + i;                           // global element index
  let n = e / p.HWC; let c = e % p.C;
  let st = stats[n * p.G + c / (p.C / p.G)];
  var v = (x[e - p.inBase] - st.x) * st.y * gamma[c] + beta[c];
  ${scaleShift ? 'v = v * (1.0 + ss[n * 2u * p.C + c]) + ss[n * 2u * p.C + p.C + c];' : ''}
  ${silu ? 'v = silu(v);' : ''}
  y[e - p.outBase] = v;
}`;

/** x [N, H, W, C] -> y, same shape. weight/bias [C]. */
export function groupNorm(gpu: Gpu, x: Tensor, weight: Tensor, bias: Tensor, o: GroupNormOptions, label = 'group_norm'): Tensor {
  const [n, h, w, c] = x.shape;
  if (c % o.groups !== 0) throw new Error(`${label}: ${c} channels are not divisible into ${o.groups} groups`);
  if (weight.size !== c || bias.size !== c) throw new Error(`${label}: weight/bias must have ${c} values`);
  if (o.scaleShift && o.scaleShift.size !== n * 2 * c) throw new Error(`${label}: scale/shift must be [${n}, ${2 * c}], got [${o.scaleShift.shape}]`);
  const cpg = c / o.groups;
  // One row per chunk: the smallest unit a band can hold, so any binding limit that fits a row works,
  // and the merge tree (hence every rounding) is the same however the rows are banded.
  const rowsPerChunk = 1;
  const chunksPerImage = Math.ceil(h / rowsPerChunk);
  const chunks = n * chunksPerImage;
  const rowOf = (chunk: number) => Math.floor(chunk / chunksPerImage) * h + Math.min(h, (chunk % chunksPerImage) * rowsPerChunk);
  const rowEnd = (chunk: number) => (chunk % chunksPerImage === chunksPerImage - 1 ? Math.floor(chunk / chunksPerImage) * h + h : rowOf(chunk + 1));
  const partial = gpu.empty([chunks, o.groups, 4], `${label}.partial`);
  const stats = gpu.empty([n, o.groups, 2], `${label}.stats`);
  const y = gpu.empty(x.shape, label);
  const tag = `${label} [${x.shape}] g${o.groups}${o.scaleShift ? ' scale_shift' : ''}${o.silu ? ' silu' : ''}`;

  const statsBands = planBands(gpu, chunks, (c0, c1) => [[rowOf(c0) * w * c, rowEnd(c1 - 1) * w * c]], tag);
  gpu.op(`${tag} stats`, (pass) => {
    const pipe = gpu.pipeline('group_norm.stats', statsWgsl);
    for (const { r0, r1 } of statsBands) {
      const xb = gpu.bind(x, rowOf(r0) * w * c, rowEnd(r1 - 1) * w * c);
      const params = packParams([h, w, c, o.groups, rowsPerChunk, chunksPerImage, r0, r1 - r0, xb.base]);
      gpu.dispatch(pass, pipe, params, [xb.binding, gpu.bindWhole(partial)], (r1 - r0) * o.groups);
    }
    const fin = gpu.pipeline('group_norm.finalize', finalizeWgsl);
    gpu.dispatch(pass, fin, packParams([n * o.groups, o.groups, chunksPerImage, { f32: o.eps }]), [gpu.bindWhole(partial), gpu.bindWhole(stats)], Math.ceil((n * o.groups) / 64));
  });

  const hwc = h * w * c;
  const bands = planBands(gpu, x.size, (e0, e1) => [[e0, e1]], tag);
  gpu.op(`${tag} apply`, (pass) => {
    const pipe = gpu.pipeline(`group_norm.apply${o.silu ? '.silu' : ''}${o.scaleShift ? '.ss' : ''}`, () => applyWgsl(!!o.silu, !!o.scaleShift));
    for (const { r0, r1 } of bands) {
      const xb = gpu.bind(x, r0, r1);
      const yb = gpu.bind(y, r0, r1);
      const bindings = [xb.binding, gpu.bindWhole(stats), gpu.bindWhole(weight), gpu.bindWhole(bias), yb.binding];
      if (o.scaleShift) bindings.push(gpu.bindWhole(o.scaleShift));
      gpu.dispatch(pass, pipe, packParams([hwc, c, o.groups, r1 - r0, r0, xb.base, yb.base]), bindings, Math.ceil((r1 - r0) / 256));
    }
  });
  partial.release();
  stats.release();
  return y;
}
