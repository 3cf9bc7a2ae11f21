// Transpose of a matrix view into a new tensor:  out[c, r] = view[r, c]      (f32)
//
// The attention's Kᵀ (models/attention.ts): with K transposed once per image, Q·Kᵀ is a plain
// (non-transposed) product whose B rows are contiguous, so it runs on the GEMM core for aligned views
// (matmul.core_views.ts) instead of the transposed-B path, which loads B one element at a time. One
// invocation per output element, consecutive invocations writing consecutive outputs; the view is
// read at a stride (a few MB: the K of one image, against a GFLOP product).

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { bindParam, type MatrixView } from './matmul.js';

const wgsl = () => /* wgsl */ `
struct Params { rows: u32, cols: u32, ld: u32, offset: u32 }   // the view: rows x cols, row stride ld, element (0, 0) at offset
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // [cols, rows]
${LINEAR_WORKGROUP}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_workgroup(wid, nwg) * 256u + lid;   // output element: (c, r) = (i / rows, i % rows)
  if (i >= p.rows * p.cols) { return; }
  let c = i / p.rows;
  let r = i % p.rows;
  y[i] = x[p.offset + r * p.ld + c];
}`;

/**
 * view [rows, cols] -> a new f32 tensor [cols, rows]. The view's span is bound in one piece by matmul's
 * bindParam (checked against the device's real binding limit, as matmul binds its B: an operand of one
 * image, never banded).
 */
export function transpose(gpu: Gpu, v: MatrixView, label = 'transpose'): Tensor {
  if (v.tensor.dtype !== 'f32') throw new Error(`${label}: ${v.tensor} is ${v.tensor.dtype}; transpose reads f32`);
  if (v.rows < 1 || v.cols < 1 || v.ld < v.cols || v.offset < 0 || v.offset + (v.rows - 1) * v.ld + v.cols > v.tensor.size)
    throw new Error(`${label}: view ${v.rows}x${v.cols} (ld ${v.ld}, offset ${v.offset}) does not fit in ${v.tensor}`);
  const xb = bindParam(gpu, v.tensor, [v.offset, v.offset + (v.rows - 1) * v.ld + v.cols], `${label} input`);
  const y = gpu.empty([v.cols, v.rows], label);
  const pipe = gpu.pipeline('transpose', wgsl);
  const n = v.rows * v.cols;
  gpu.op(`${label} [${v.rows}x${v.cols}]`, (pass) => gpu.dispatch(pass, pipe, packParams([v.rows, v.cols, v.ld, v.offset - xb.base]), [xb.binding, gpu.bindWhole(y)], Math.ceil(n / 256)));
  return y;
}
