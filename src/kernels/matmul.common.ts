// What both matmul kernel variants share: the params struct, the bindings and the element accessors.

/**
 * The params struct and bindings every matmul kernel declares (field order = packParams order in
 * matmul.ts); A and B as array<f32>, or array<vec4f> for the aligned vec4 pipelines (offsets and
 * strides stay in elements).
 */
export const matmulParamsWgsl = (ab: 'f32' | 'vec4f') => /* wgsl */ `
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
@group(0) @binding(1) var<storage, read> a: array<${ab}>;       // A [M, K], row stride lda (a band of rows)
@group(0) @binding(2) var<storage, read> b: array<${ab}>;       // B [K, N] or, transposed, [N, K]
@group(0) @binding(3) var<storage, read> bias: array<f32>;    // [N] (unused when hasBias = 0)
@group(0) @binding(4) var<storage, read_write> c: array<f32>; // C [M, N], row stride ldc (a band of rows)

// C[m, n] = alpha * acc + bias[n]
fn store(m: u32, n: u32, acc: f32) {
  var v = p.alpha * acc;
  if (p.hasBias != 0u) { v += bias[n]; }
  c[p.cOff + m * p.ldc + n] = v;
}
`;

export const MATMUL_PARAMS_WGSL = matmulParamsWgsl('f32');

/**
 * A kernel variant: its pipeline and the tile it computes per workgroup. `vec4`: A and B may be read as
 * array<vec4f> (not transB; K % 32, N, lda, ldb and both offsets % 4 == 0: every vec4 is aligned).
 */
export interface MatmulKernel {
  pipeline(gpu: import('../gpu/gpu.js').Gpu, opts: { vec4: boolean }): GPUComputePipeline;
  tileM: number;
  tileN: number;
}
