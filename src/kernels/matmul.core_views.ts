// matmul on the mask-free GEMM core (matmul.core.ts) for aligned views: B not transposed, K % 32 == 0,
// N % 32 == 0, and lda, ldb, ldc and the three offsets multiples of 4 (then every vec4 of A, B and C is
// aligned; bands start on 256-byte boundaries). The attention's probs·V and, with K transposed first,
// its Q·Kᵀ (models/attention.ts) meet these at every size the SD VAE runs.
//
// The core: a workgroup (one subgroup of 8 lanes) computes a 32 x 32 tile of C; lane l owns the 32
// rows x columns 4l .. 4l+3. Per 32 values of k each lane loads one vec4 of each of the 32 rows of A
// (shared by subgroupBroadcast) and its vec4 of B for every k: 64 loads per 4096 FMAs, against the
// vec4 subgroup kernel's (matmul.subgroup_vec4.ts) 36 per 2048 with a clamped B column. Rows past the
// band's M repeat its last row (clamped once, outside the loop) and are not stored, so any M works.
// Epilogue as every matmul: C = alpha·acc + bias, in f32. Each element of C is the same sum over k
// in the same order whatever the band split, so banded results equal unbanded ones.

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { matmulParamsWgsl, type MatmulKernel } from './matmul.common.js';
import { CORE_COLS, CORE_LANES, CORE_ROWS, gemmCoreWgsl } from './matmul.core.js';

const each = (n: number, f: (i: number) => string) => [...Array(n).keys()].map(f).join('\n');

/**
 * matmul's params and bindings (matmul.common.ts), with A named as the core expects and C read as vec4
 * (ldc and the offset are multiples of 4 here); the scalar store() helper is dropped (it writes f32).
 */
function params(): string {
  const src = matmulParamsWgsl('vec4f');
  const out = src
    .replace('var<storage, read> a: array<vec4f>;', 'var<storage, read> A: array<vec4f>;')
    .replace('var<storage, read_write> c: array<f32>;', 'var<storage, read_write> c: array<vec4f>;')
    .replace(/\/\/ C\[m, n\] = alpha[\s\S]*$/, '');
  if (!out.includes(' A: array<vec4f>') || !out.includes(' c: array<vec4f>') || out.includes('fn store')) throw new Error('matmul.core_views: matmul.common.ts bindings changed');
  return out;
}

const wgsl = () => /* wgsl */ `enable subgroups;
${params()}
${LINEAR_WORKGROUP}

@compute @workgroup_size(${CORE_LANES})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let K4 = p.K / 4u;
  let tilesN = p.N / ${CORE_COLS}u;
  let tile = linear_workgroup(wid, nwg);
  if (tile >= ((p.M + ${CORE_ROWS - 1}u) / ${CORE_ROWS}u) * tilesN) { return; } // uniform per workgroup
  let m0 = (tile / tilesN) * ${CORE_ROWS}u;
  let n4 = (tile % tilesN) * ${CORE_COLS / 4}u + lane; // this lane's vec4 of columns
  let bBase = p.bOff / 4u; // (not b0..b3: the core names its B vec4s so)
  let sk4 = p.sk / 4u;
${each(CORE_ROWS, (r) => `  let aRow${r} = (p.aOff + min(m0 + ${r}u, p.M - 1u) * p.lda) / 4u;`)}
${gemmCoreWgsl((k) => `b[bBase + (${k}) * sk4 + n4]`)}
  let bias4 = select(vec4f(0.0), vec4f(bias[4u * n4], bias[4u * n4 + 1u], bias[4u * n4 + 2u], bias[4u * n4 + 3u]), p.hasBias != 0u);
  let c0 = p.cOff / 4u;
  let ldc4 = p.ldc / 4u;
${each(CORE_ROWS, (r) => `  if (m0 + ${r}u < p.M) { c[c0 + (m0 + ${r}u) * ldc4 + n4] = p.alpha * acc${r} + bias4; }`)}
}
`;

/** Whether the core applies (matmul.ts has checked the dtypes and shapes). */
export function coreViewsApply(transB: boolean, n: number, k: number, strides: number[]): boolean {
  return !transB && k % 32 === 0 && n % CORE_COLS === 0 && strides.every((v) => v % 4 === 0);
}

export const coreViewsMatmulKernel: MatmulKernel = {
  tileM: CORE_ROWS,
  tileN: CORE_COLS,
  pipeline(gpu: Gpu) {
    const { subgroups, subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.features;
    if (!subgroups || lo !== CORE_LANES || hi !== CORE_LANES)
      throw new Error(`matmul.core_views needs subgroups of exactly ${CORE_LANES} lanes (adapter: ${subgroups ? `${lo}..${hi}` : 'no subgroups'})`);
    return gpu.pipeline('matmul.core_views', wgsl);
  },
};
