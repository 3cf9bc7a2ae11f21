// Softmax over the last axis, in place, numerically stable (as torch):
//
//   p[r, j] = exp(s[r, j] - max_j s[r, :]) / sum_j exp(s[r, j] - max_j s[r, :])
//
// One workgroup of 256 invocations per row: a max reduction, a sum reduction, then the write, each a
// strided pass over the row followed by a tree in workgroup memory. Used by the attention on its
// score chunks, which are sized to fit one binding. Always f32 (also on the f16-activation path).

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';

const wgsl = () => /* wgsl */ `
struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;   // [rows, cols]
${LINEAR_WORKGROUP}
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = linear_workgroup(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.cols;
  var m = bitcast<f32>(0xff7fffffu); // -FLT_MAX
  for (var j = lid; j < p.cols; j += 256u) { m = max(m, s[base + j]); }
  red[lid] = m;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) { if (lid < k) { red[lid] = max(red[lid], red[lid + k]); } workgroupBarrier(); }
  m = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = lid; j < p.cols; j += 256u) { sum += exp(s[base + j] - m); }
  red[lid] = sum;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) { if (lid < k) { red[lid] += red[lid + k]; } workgroupBarrier(); }
  let inv = 1.0 / red[0];
  for (var j = lid; j < p.cols; j += 256u) { s[base + j] = exp(s[base + j] - m) * inv; }
}`;

/** In place over the first `rows` rows of a [rows, cols] tensor (default: all leading dims). */
export function softmaxRows(gpu: Gpu, s: Tensor, label = 'softmax', rows = s.size / s.shape[s.shape.length - 1]): void {
  const cols = s.shape[s.shape.length - 1];
  const pipe = gpu.pipeline('softmax', wgsl);
  gpu.op(`${label} [${s.shape}]`, (pass) => gpu.dispatch(pass, pipe, packParams([rows, cols]), [gpu.bind(s, 0, rows * cols).binding], rows));
}
