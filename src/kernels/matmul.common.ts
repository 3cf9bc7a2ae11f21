// What both matmul kernel variants share: the params struct, the bindings and the element accessors.

/** The params struct every matmul kernel declares (field order = packParams order in matmul.ts). */
export const MATMUL_PARAMS_WGSL = /* wgsl */ `
struct Params {
  M: u32, N: u32, K: u32,  // rows of this band, columns, inner dimension
  lda: u32, ldc: u32,      // row strides of A and C (elements)
  aOff: u32, cOff: u32,    // element (0, 0) of this band's A and C, relative to their bindings
  bOff: u32,               // element (0, 0) of B, relative to its binding
  sk: u32, sn: u32,        // B's element (k, n) is at bOff + k*sk + n*sn (transB swaps the strides)
  hasBias: u32,
  alpha: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;       // A [M, K], row stride lda (a band of rows)
@group(0) @binding(2) var<storage, read> b: array<f32>;       // B [K, N] or, transposed, [N, K]
@group(0) @binding(3) var<storage, read> bias: array<f32>;    // [N] (unused when hasBias = 0)
@group(0) @binding(4) var<storage, read_write> c: array<f32>; // C [M, N], row stride ldc (a band of rows)

// C[m, n] = alpha * acc + bias[n]
fn store(m: u32, n: u32, acc: f32) {
  var v = p.alpha * acc;
  if (p.hasBias != 0u) { v += bias[n]; }
  c[p.cOff + m * p.ldc + n] = v;
}
`;

/** A kernel variant: its pipeline and the tile it computes per workgroup. */
export interface MatmulKernel {
  pipeline(gpu: import('../gpu/gpu.js').Gpu): GPUComputePipeline;
  tileM: number;
  tileN: number;
}
