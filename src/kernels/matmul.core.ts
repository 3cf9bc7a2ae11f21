// The fast GEMM core for lavapipe, shared by the Winograd convolution (winograd.gemm.ts) and the
// benchmarks: C = A · B on operands that are padded so the hot loop needs no bounds test at all.
//
//   A [M, K], B [K, N], C [M, N], all row-major `array<vec4f>`; M % 16 == 0, K % 32 == 0, N % 32 == 0.
//
// Why this shape (measured on lavapipe, see docs/benchmarks.md): lavapipe runs 8 invocations in one
// 256-bit vector and emulates every storage load lane by lane with a bounds check, so the number of
// loads per FMA sets the speed. A workgroup is one subgroup of 8 lanes computing a 16 x 32 tile of C;
// lane l owns the 16 rows x columns 4l .. 4l+3 (16 vec4 accumulators). Per 32 values of k:
//   - lane l loads k-columns 4l .. 4l+3 of each of the 16 rows of A as one vec4 (16 loads), and
//     every lane reads them from lane j with subgroupBroadcast (an in-register shuffle);
//   - each lane loads its vec4 of B for every k (32 loads).
// 48 vec4 loads feed 2048 FMAs per lane. Padding (done by whoever writes A and B, with zeros) makes
// the trip count and every index valid, so there are no masks, selects or clamps in the loop.

const range = (n: number) => [...Array(n).keys()];
const each = (n: number, f: (i: number) => string) => range(n).map(f).join('\n');
const XYZW = ['x', 'y', 'z', 'w'];

export const CORE_LANES = 8;
export const CORE_ROWS = 16;
export const CORE_COLS = 4 * CORE_LANES;
export const CORE_K = 4 * CORE_LANES;

/**
 * WGSL statements of the hot loop. Expects in scope: `lane`, arrays `A` and `B` of vec4f, `aRow{r}`
 * (vec4 index of row r's k = 0 in A), `bCol` (vec4 index of this lane's columns at k = 0 in B),
 * `K4` and `N4` (K / 4 and N / 4, vec4 strides). Declares and fills `acc0 .. acc15`.
 */
export function gemmCoreWgsl(): string {
  const step = (j: number) => `    {
${each(CORE_ROWS, (r) => `      let s${r} = subgroupBroadcast(a${r}, ${j}u);`)}
${each(4, (c) => `      { let b = B[bk + ${(4 * j + c)}u * N4];\n${each(CORE_ROWS, (r) => `        acc${r} += s${r}.${XYZW[c]} * b;`)} }`)}
    }`;
  return `${each(CORE_ROWS, (r) => `  var acc${r} = vec4f(0.0);`)}
  // The trip count is uniform (the same for all lanes), so every lane runs every iteration.
  for (var k0 = 0u; k0 < K4 * 4u; k0 += ${CORE_K}u) {
    let k4 = k0 / 4u + lane; // this lane's vec4 of each row of A
${each(CORE_ROWS, (r) => `    let a${r} = A[aRow${r} + k4];`)}
    let bk = bCol + k0 * N4; // B row k0, this lane's 4 columns
${each(CORE_LANES, step)}
  }`;
}
