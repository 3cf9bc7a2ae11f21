// matmul, lavapipe variant with vec4 loads: matmul.subgroup.ts's scheme (read its header first) when
// every vec4 of A and B is aligned: B not transposed, K % 32 == 0, N, lda, ldb and both offsets % 4
// == 0 (matmul.ts checks; bands start on 256-byte boundaries). Then A and B are bound as
// array<vec4f>: lavapipe emulates each storage load lane by lane with a bounds check, so one vec4
// load costs about what one f32 load does (docs/benchmarks.md). The K % 32 == 0 path only: per step
// of 32 values of k, lane l loads k-values 4l .. 4l+3 of each of the 16 rows of A as one vec4, the
// 16 x 32 block is shared by subgroupBroadcast, and each lane loads one vec4 of B per k.

import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { matmulParamsWgsl } from './matmul.common.js';

const LANES = 8;
const ROWS = 16;
const COLS = 4 * LANES;

const each = (n: number, f: (i: number) => string) => [...Array(n).keys()].map(f).join('\n');

// Row-outer order: the accumulators live on the stack (16 vec4 per lane do not fit in registers), so
// updating one row 4 times in a row loads and stores it once per 4 k instead of once per k.
const step = (j: number) => `      {
${each(4, (c) => `        let b${c} = b[(p.bOff + (k0 + ${4 * j + c}u) * p.sk) / 4u + col4];`)}
${each(ROWS, (r) => `        { let s = subgroupBroadcast(a${r}, ${j}u); acc${r} += s.x * b0; acc${r} += s.y * b1; acc${r} += s.z * b2; acc${r} += s.w * b3; }`)}
      }`;

export const subgroupVec4MatmulWgsl = () => /* wgsl */ `enable subgroups;
${matmulParamsWgsl('vec4f')}
${LINEAR_WORKGROUP}

@compute @workgroup_size(${LANES})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tilesN = (p.N + ${COLS - 1}u) / ${COLS}u;
  let tile = linear_workgroup(wid, nwg);
  if (tile >= ((p.M + ${ROWS - 1}u) / ${ROWS}u) * tilesN) { return; } // uniform per workgroup
  let m0 = (tile / tilesN) * ${ROWS}u;
  let n0 = (tile % tilesN) * ${COLS}u + 4u * lane;
  let col4 = min(n0, p.N - 4u) / 4u; // this lane's vec4 of columns (clamped for loads)
  // Start of each row of A (rows past M repeat the last row: computed, never stored).
${each(ROWS, (r) => `  let o${r} = p.aOff + min(m0 + ${r}u, p.M - 1u) * p.lda;
  var acc${r} = vec4f(0.0);`)}

  for (var k0 = 0u; k0 < p.K; k0 += ${4 * LANES}u) {
    let kl = k0 + 4u * lane;
${each(ROWS, (r) => `    let a${r} = a[(o${r} + kl) / 4u];`)}
${each(LANES, step)}
  }

  for (var j = 0u; j < 4u; j++) {
    let n = n0 + j;
    if (n >= p.N) { break; }
${each(ROWS, (r) => `    if (m0 + ${r}u < p.M) { store(m0 + ${r}u, n, acc${r}[j]); }`)}
  }
}
`;
