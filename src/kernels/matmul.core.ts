// The fast GEMM core for lavapipe (used by the Winograd convolution, winograd.gemm.ts): C = A · B
// on operands padded so that the hot loop needs no bounds test, mask or clamp at all.
//
//   A [M, K] row-major `array<vec4f>`; B [K, N] read through `loadB(k)` (a vec4 of 4 columns: an
//   rgba32float texture in winograd.gemm.ts); M % CORE_ROWS == 0, K % 32 == 0, N % 32 == 0.
//
// Why this shape (measured on lavapipe, see docs/benchmarks.md): lavapipe runs 8 invocations in one
// 256-bit vector and emulates every storage load lane by lane with a bounds check, so the number of
// loads per FMA sets the speed. A workgroup is one subgroup of 8 lanes computing an R x 32 tile of C
// (R = CORE_ROWS = 32, or a multiple); lane l owns the R rows x columns 4l .. 4l+3 (R vec4
// accumulators). Per 32 values of k:
//   - lane l loads k-columns 4l .. 4l+3 of each of the R rows of A as one vec4 (R loads), and
//     every lane reads them from lane j with subgroupBroadcast (an in-register shuffle);
//   - each lane loads its vec4 of B for every k (32 loads).
// R + 32 vec4 loads feed 128 R FMAs per lane (R = 32: 64 loads, 4096 FMAs). Padding (done by whoever writes A and B, with zeros) makes
// the trip count and every index valid, so there are no masks, selects or clamps in the loop.
// B through a texture: lavapipe's texel fetch is ~1.6x cheaper per lane than its emulated storage
// load with bounds check (measured: docs/benchmarks.md), and B is loaded twice as often as A.

const range = (n: number) => [...Array(n).keys()];
const each = (n: number, f: (i: number) => string) => range(n).map(f).join('\n');

export const CORE_LANES = 8;
export const CORE_ROWS = 32;
export const CORE_COLS = 4 * CORE_LANES;
export const CORE_K = 4 * CORE_LANES;

/**
 * WGSL statements of the hot loop. Expects in scope: `lane` and `K4` (K / 4); `loadB(k)` is the WGSL
 * expression of this lane's vec4 of B's row k, `loadA(r)` that of row r's vec4 at k-vec4 index `k4`
 * (default: `A[aRow{r} + k4]`, with the array `A` of vec4f and `aRow{r}`, the vec4 index of row r's
 * k = 0, in scope). Declares and fills `acc0 .. acc{rows - 1}`. `rows`: the tile's rows (CORE_ROWS,
 * or a multiple of it: each B load then feeds more rows; the Winograd GEMM uses WINOGRAD_ROWS).
 */
export function gemmCoreWgsl(loadB: (k: string) => string, rows = CORE_ROWS, loadA = (r: number) => `A[aRow${r} + k4]`): string {
  // Row-outer order: the 32 x 4 accumulators of a lane do not fit in registers, so each lives on the
  // stack; updating one row 4 times in a row loads and stores it once per 4 k instead of once per k.
  const step = (j: number) => `    {
${each(4, (c) => `      let b${c} = ${loadB(`k0 + ${4 * j + c}u`)};`)}
${each(rows, (r) => `      { let s = subgroupBroadcast(a${r}, ${j}u); acc${r} += s.x * b0; acc${r} += s.y * b1; acc${r} += s.z * b2; acc${r} += s.w * b3; }`)}
    }`;
  return `${each(rows, (r) => `  var acc${r} = vec4f(0.0);`)}
  // The trip count is uniform (the same for all lanes), so every lane runs every iteration.
  for (var k0 = 0u; k0 < K4 * 4u; k0 += ${CORE_K}u) {
    let k4 = k0 / 4u + lane; // this lane's vec4 of each row of A
${each(rows, (r) => `    let a${r} = ${loadA(r)};`)}
${each(CORE_LANES, step)}
  }`;
}
