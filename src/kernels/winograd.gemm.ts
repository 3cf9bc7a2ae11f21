// Winograd step 2: the P independent GEMMs, one per position (i, j) of the transformed tile (P = 16
// for F(2x2, 3x3)'s 4x4 tiles, 36 for F(4x4, 3x3)'s 6x6 tiles).
//
//   M[pos][t, co] = sum_ci V[pos][t, ci] * U[pos][ci, co]        pos = 0..P-1
//
// V and U are rgba32float 2D-array textures, layer = position: U's texel (co / 4, ci); V [Tp, Kp / 4]
// row-major, wrapped into rows of V_TEXTURE_WIDTH texels (texel i of a layer at (i % width, i / width),
// so the texture's size follows V's bytes whatever its shape), because lavapipe fetches a texel as one 16-byte load per lane, where a vec4 storage load is
// four bounds-checked scalar loads per lane (matmul.core.ts; V through a texture made this GEMM
// 13-25% faster than V in a buffer, docs/benchmarks.md). The input transform writes V into a buffer
// and winograd.ts copies it into V's texture (lavapipe's storage-texture stores are ~10x slower than
// that copy). M [P, Tp, Np] is a row-major `array<vec4f>`. All are padded (Tp % WINOGRAD_ROWS,
// Kp % 32 and Np % 32 are 0) and zero-filled in the padding by the transforms, so the loop is the
// mask-free GEMM core of matmul.core.ts: a workgroup (one subgroup of 8 lanes) computes a
// WINOGRAD_ROWS x 32 tile of one position's M. Workgroups walk the output channels fastest, so a
// slab of V stays in cache while it meets all of U[pos]. Each element of M is a sum over ci in a
// fixed order, whatever the band, so banded results are bit-identical to unbanded ones.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { CORE_COLS, CORE_LANES, gemmCoreWgsl } from './matmul.core.js';

/**
 * Rows of M per workgroup, and the unit Tp is padded to (a multiple of CORE_ROWS, so the shared core's
 * 32-row tiles divide it too). 64, not the core's 32: on lavapipe every B texel fetched then feeds
 * twice the rows, which made the GEMM ~12% faster in CPU time at the SD VAE's shapes (Kp = 128..512;
 * 96 and 128 rows were no faster, 16 and 8 slower; docs/benchmarks.md "Winograd GEMM rows"). The
 * 64 accumulators of a lane live on the stack either way.
 */
export const WINOGRAD_ROWS = 64;

/**
 * Texels per row of V's texture (8 KiB, a multiple of the 256 bytes per row a buffer-to-texture copy
 * needs): each layer's Tp * Kp / 4 texels fill whole rows, as Tp % 64 and Kp % 32 are 0.
 */
export const V_TEXTURE_WIDTH = 512;

const each = (n: number, f: (i: number) => string) => [...Array(n).keys()].map(f).join('\n');

const wgsl = () => /* wgsl */ `enable subgroups;
struct Params { Tp: u32, Kp: u32, Np: u32, P: u32 } // P: positions (16 or 36)
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var V: texture_2d_array<f32>;             // V [P][Tp * Kp / 4 texels, wrapped]
@group(0) @binding(2) var U: texture_2d_array<f32>;             // U [P][Kp, Np / 4] texels
@group(0) @binding(3) var<storage, read_write> C: array<vec4f>; // M [P, Tp, Np]
${LINEAR_WORKGROUP}
fn vtexel(i: u32) -> vec2u { return vec2u(i % ${V_TEXTURE_WIDTH}u, i / ${V_TEXTURE_WIDTH}u); }

@compute @workgroup_size(${CORE_LANES})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let K4 = p.Kp / 4u;
  let N4 = p.Np / 4u;
  let tilesN = p.Np / ${CORE_COLS}u;
  let perPos = (p.Tp / ${WINOGRAD_ROWS}u) * tilesN;
  let g = linear_workgroup(wid, nwg);
  if (g >= p.P * perPos) { return; } // uniform per workgroup
  let pos = g / perPos;
  let t0 = ((g % perPos) / tilesN) * ${WINOGRAD_ROWS}u;            // first tile (row of V[pos])
  let m0 = pos * p.Tp + t0;                                        // its row in the [P * Tp] stack of M
  let n4 = ((g % perPos) % tilesN) * ${CORE_COLS / 4}u + lane;    // this lane's vec4 column
${each(WINOGRAD_ROWS, (r) => `  let vRow${r} = (t0 + ${r}u) * K4; // texel of V[pos][t0 + ${r}][0]`)}
${gemmCoreWgsl((k) => `textureLoad(U, vec2u(n4, ${k}), pos, 0)`, WINOGRAD_ROWS, (r) => `textureLoad(V, vtexel(vRow${r} + k4), pos, 0)`)}
${each(WINOGRAD_ROWS, (r) => `  C[(m0 + ${r}u) * N4 + n4] = acc${r};`)}
}
`;

/** Rows of V's texture for a band of tp tiles and kp input channels (per layer). */
export const vTextureRows = (tp: number, kp: number) => (tp * kp) / 4 / V_TEXTURE_WIDTH;

/** Records the copy of V [P, tp, kp] (row-major in its buffer) into the texture t this core fetches V from. */
export function copyV(gpu: Gpu, label: string, v: Tensor, t: GPUTexture, tp: number, kp: number, P: number): void {
  const rows = vTextureRows(tp, kp);
  gpu.copyToTexture(label, { buffer: v.buffer, offset: v.offset, bytesPerRow: V_TEXTURE_WIDTH * 16, rowsPerImage: rows }, { texture: t }, [V_TEXTURE_WIDTH, rows, P]);
}

/** The batched GEMM's pipeline and its workgroup count for one band. */
export const winogradGemm = {
  pipeline(gpu: Gpu): GPUComputePipeline {
    const { subgroups, subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.features;
    if (!subgroups || lo !== CORE_LANES || hi !== CORE_LANES)
      throw new Error(`winograd GEMM needs subgroups of exactly ${CORE_LANES} lanes (adapter: ${subgroups ? `${lo}..${hi}` : 'no subgroups'})`);
    return gpu.pipeline('winograd.gemm', wgsl);
  },
  groups: (tp: number, np: number, positions = 16) => positions * (tp / WINOGRAD_ROWS) * (np / CORE_COLS),
};
