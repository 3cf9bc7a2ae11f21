// matmul, portable variant: the classic shared-memory tiled GEMM (right for real GPUs).
//
// One workgroup of 16x16 invocations computes a 64x64 tile of C. K is walked in steps of 16: the
// workgroup stages A[64 x 16] and B[16 x 64] in workgroup memory, then each invocation multiplies its
// 4x4 sub-tile out of them (8 shared loads feed 16 FMAs). Out-of-range elements are staged as zeros.

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { MATMUL_PARAMS_WGSL, type MatmulKernel } from './matmul.common.js';

const BM = 64;
const BN = 64;
const BK = 16;

const wgsl = () => /* wgsl */ `
${MATMUL_PARAMS_WGSL}
${LINEAR_WORKGROUP}
const BM = ${BM}u; const BN = ${BN}u; const BK = ${BK}u;
var<workgroup> As: array<f32, ${BK * BM}>; // [k][m]
var<workgroup> Bs: array<f32, ${BK * BN}>; // [k][n]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tilesN = (p.N + BN - 1u) / BN;
  let tile = linear_workgroup(wid, nwg);
  if (tile >= ((p.M + BM - 1u) / BM) * tilesN) { return; }   // uniform per workgroup
  let m0 = (tile / tilesN) * BM;
  let n0 = (tile % tilesN) * BN;
  let tx = tid % 16u;  // columns n0 + tx*4 .. +3
  let ty = tid / 16u;  // rows m0 + ty*4 .. +3
  var acc: array<vec4f, 4>;

  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = 0u; i < 4u; i++) {
      let idx = tid + i * 256u;
      let mm = idx / BK; let kk = idx % BK;  // k fastest: neighbours read neighbouring A elements
      var av = 0.0;
      if (m0 + mm < p.M && k0 + kk < p.K) { av = a[p.aOff + (m0 + mm) * p.lda + k0 + kk]; }
      As[kk * BM + mm] = av;
      let kb = idx / BN; let nb = idx % BN;
      var bv = 0.0;
      if (k0 + kb < p.K && n0 + nb < p.N) { bv = b[p.bOff + (k0 + kb) * p.sk + (n0 + nb) * p.sn]; }
      Bs[kb * BN + nb] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let av = vec4f(As[kk * BM + ty * 4u], As[kk * BM + ty * 4u + 1u], As[kk * BM + ty * 4u + 2u], As[kk * BM + ty * 4u + 3u]);
      let bv = vec4f(Bs[kk * BN + tx * 4u], Bs[kk * BN + tx * 4u + 1u], Bs[kk * BN + tx * 4u + 2u], Bs[kk * BN + tx * 4u + 3u]);
      acc[0] += av.x * bv; acc[1] += av.y * bv; acc[2] += av.z * bv; acc[3] += av.w * bv;
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx * 4u + j;
      if (n < p.N) { store(m, n, acc[i][j]); }
    }
  }
}
`;

export const tiledMatmulKernel: MatmulKernel = {
  tileM: BM,
  tileN: BN,
  pipeline: (gpu: Gpu) => gpu.pipeline('matmul.tiled', wgsl), // scalar loads: shared memory is the point here
};
