// Winograd step 2 on any adapter: the P GEMMs of winograd.gemm.ts with operands staged in
// workgroup-shared memory instead of shared between lanes by subgroupBroadcast, so it needs no
// subgroups (any size, or none: compatibility mode) and no `enable subgroups`.
//
//   M[pos][t, co] = sum_ci V[pos][t, ci] * U[pos][ci, co]        pos = 0..P-1
//
// Same bindings, layouts and padding as the subgroup core (V [P, Tp, Kp] and M [P, Tp, Np] row-major
// `array<vec4f>`, U an rgba32float / rgba16float 2D-array texture, texel (co / 4, ci) of layer pos;
// Tp % 64 (WINOGRAD_ROWS), Kp % 32, Np % 32 are 0 and the padding is zeros), so the transforms are shared
// and the loop needs no masks; its tiles are 32 x 32 (the subgroup core's are 64 x 32).
//
// The classic tiling: a workgroup of 64 invocations (8 vec4 columns x 8 row groups) owns a 32 x 32
// tile of one position's M. Per step of 32 values of k it copies a 32 x 32 slab of V and of U into
// workgroup memory (4 vec4 loads per invocation each, neighbouring invocations on neighbouring
// addresses), waits at a barrier, then each invocation accumulates its 4 rows (t0 + ty + 8r) x 1 vec4
// column (4 output channels) in f32 registers: per 4 values of k, 4 vec4 reads of V's slab and 4 of
// U's feed 16 vec4 multiply-adds. V's slab rows are padded to 9 vec4 so the 4 rows a group of
// invocations reads at once fall in different memory banks. Each element of M is summed over k in
// increasing order (k0 outer, then k), the subgroup core's order.

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { CORE_COLS, CORE_K, CORE_ROWS } from './matmul.core.js';

const range = (n: number) => [...Array(n).keys()];
const each = (n: number, f: (i: number) => string) => range(n).map(f).join('\n');

const COLS4 = CORE_COLS / 4; // 8 vec4 columns per tile (one per invocation of a row group)
const K4 = CORE_K / 4; // 8 vec4 of k per step
const GROUPS = 8; // row groups: invocation (tx, ty) owns rows ty, ty + 8, ty + 16, ty + 24
const ROWS_PER = CORE_ROWS / GROUPS; // 4 rows per invocation
const WG = COLS4 * GROUPS; // 64 invocations
const A_STRIDE = K4 + 1; // vec4 per row of V's slab, padded by one against bank conflicts
const LOADS = (CORE_ROWS * K4) / WG; // vec4 of each operand each invocation stages per step (4)

const wgsl = () => /* wgsl */ `struct Params { Tp: u32, Kp: u32, Np: u32, P: u32 } // P: positions (16 or 36)
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4f>;       // V [P, Tp, Kp]
@group(0) @binding(2) var U: texture_2d_array<f32>;             // U [P][Kp, Np / 4] texels
@group(0) @binding(3) var<storage, read_write> C: array<vec4f>; // M [P, Tp, Np]
${LINEAR_WORKGROUP}
var<workgroup> As: array<vec4f, ${CORE_ROWS * A_STRIDE}>; // V's slab [32 rows][8 vec4 of k (+1 pad)]
var<workgroup> Bs: array<vec4f, ${CORE_K * COLS4}>;       // U's slab [32 k][8 vec4 of columns]

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let K4 = p.Kp / 4u;
  let N4 = p.Np / 4u;
  let tilesN = p.Np / ${CORE_COLS}u;
  let perPos = (p.Tp / ${CORE_ROWS}u) * tilesN;
  let g = linear_workgroup(wid, nwg);
  if (g >= p.P * perPos) { return; } // uniform per workgroup: the barriers below stay in uniform control flow
  let pos = g / perPos;
  let m0 = pos * p.Tp + ((g % perPos) / tilesN) * ${CORE_ROWS}u; // first row in the [P * Tp] stack
  let n40 = ((g % perPos) % tilesN) * ${COLS4}u;                  // first vec4 column of the tile
  let tx = li % ${COLS4}u; // this invocation's vec4 column
  let ty = li / ${COLS4}u; // its row group
${each(ROWS_PER, (r) => `  var acc${r} = vec4f(0.0);`)}
  for (var k0 = 0u; k0 < p.Kp; k0 += ${CORE_K}u) {
    // Stage: element e = li + ${WG}q of each slab is (row or k) e / ${COLS4}, vec4 e % ${COLS4}: ty + ${GROUPS}q, tx.
${each(LOADS, (q) => `    As[(ty + ${GROUPS * q}u) * ${A_STRIDE}u + tx] = A[(m0 + ty + ${GROUPS * q}u) * K4 + k0 / 4u + tx];
    Bs[(ty + ${GROUPS * q}u) * ${COLS4}u + tx] = textureLoad(U, vec2u(n40 + tx, k0 + ty + ${GROUPS * q}u), pos, 0);`)}
    workgroupBarrier();
${each(K4, (j) => `    {
${each(4, (c) => `      let b${c} = Bs[${(4 * j + c) * COLS4}u + tx];`)}
${each(ROWS_PER, (r) => `      { let a = As[(ty + ${GROUPS * r}u) * ${A_STRIDE}u + ${j}u]; acc${r} += a.x * b0; acc${r} += a.y * b1; acc${r} += a.z * b2; acc${r} += a.w * b3; }`)}
    }`)}
    workgroupBarrier(); // the slabs are overwritten by the next step
  }
${each(ROWS_PER, (r) => `  C[(m0 + ty + ${GROUPS * r}u) * N4 + n40 + tx] = acc${r};`)}
}
`;

/** The shared-memory GEMM's pipeline and its workgroup count for one band. */
export const winogradGemmShared = {
  pipeline: (gpu: Gpu): GPUComputePipeline => gpu.pipeline('winograd.gemm.shared', wgsl),
  groups: (tp: number, np: number, positions = 16) => positions * (tp / CORE_ROWS) * (np / CORE_COLS),
};
