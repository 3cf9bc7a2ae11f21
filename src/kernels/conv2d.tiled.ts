// conv2d, portable variant: the classic shared-memory tiled GEMM (right for real GPUs).
//
// One workgroup of 16x16 invocations computes a 64 (pixels) x 64 (output channels) tile of Y.
// K is walked in steps of 16: the workgroup stages A[64 x 16] (gathered from the input, k fastest so
// neighbouring invocations read neighbouring channels) and B[16 x 64] in workgroup memory, then each
// invocation multiplies its 4x4 sub-tile out of them: 8 shared loads feed 16 FMAs.
// Precision: activations stored f32 or f16 (activation.ts), widened to f32 as they are staged; f32
// accumulators; the weight is f32, f16 or bf16 (weight_format.ts), widened to f32 as it is staged;
// the output narrowed to the activation dtype at the store.

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { convParamsWgsl, type ConvKernel, type ConvPipelineShape } from './conv2d.common.js';
import type { WeightFormat } from './weight_format.js';
import { dtypeKey, type ActivationDType } from './activation.js';

const BM = 64;
const BN = 64;
const BK = 16;

const wgsl = (format: WeightFormat, act: ActivationDType) => /* wgsl */ `
${convParamsWgsl(format, act)}
${LINEAR_WORKGROUP}
const BM = ${BM}u; const BN = ${BN}u; const BK = ${BK}u;
var<workgroup> As: array<f32, ${BK * BM}>; // [k][m]
var<workgroup> Bs: array<f32, ${BK * BN}>; // [k][n]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tilesN = (p.Cout + BN - 1u) / BN;
  let tile = linear_workgroup(wid, nwg);
  if (tile >= ((p.M + BM - 1u) / BM) * tilesN) { return; }   // uniform per workgroup
  let m0 = (tile / tilesN) * BM;
  let n0 = (tile % tilesN) * BN;
  let tx = tid % 16u;  // output channels n0 + tx*4 .. +3
  let ty = tid / 16u;  // pixels m0 + ty*4 .. +3
  var acc: array<vec4f, 4>;

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = 0u; i < 4u; i++) {
      let idx = tid + i * 256u;
      let mm = idx / BK; let kk = idx % BK;
      var a = 0.0;
      if (m0 + mm < p.M && k0 + kk < p.K) { a = load_a(m0 + mm, k0 + kk); }
      As[kk * BM + mm] = a;
      let kb = idx / BN; let nb = idx % BN;
      var b = 0.0;
      if (k0 + kb < p.K && n0 + nb < p.Cout) { b = load_wt((k0 + kb) * p.Cout + n0 + nb); }
      Bs[kb * BN + nb] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a = vec4f(As[kk * BM + ty * 4u], As[kk * BM + ty * 4u + 1u], As[kk * BM + ty * 4u + 2u], As[kk * BM + ty * 4u + 3u]);
      let b = vec4f(Bs[kk * BN + tx * 4u], Bs[kk * BN + tx * 4u + 1u], Bs[kk * BN + tx * 4u + 2u], Bs[kk * BN + tx * 4u + 3u]);
      acc[0] += a.x * b; acc[1] += a.y * b; acc[2] += a.z * b; acc[3] += a.w * b;
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let co = n0 + tx * 4u + j;
      if (co < p.Cout) { y[(p.pix0 + m) * p.Cout + co - p.outBase] = act(acc[i][j] + bias[co]); }
    }
  }
}
`;

export const tiledConvKernel: ConvKernel = {
  tileM: BM,
  tileN: BN,
  pipeline: (gpu: Gpu, { format, act }: ConvPipelineShape) => gpu.pipeline(`conv2d.tiled.${format}${dtypeKey(act)}`, () => wgsl(format, act)),
};
