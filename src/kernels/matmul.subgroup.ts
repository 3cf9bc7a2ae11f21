// matmul, lavapipe variant: the A operand shared between lanes by subgroupBroadcast.
//
// Same scheme as conv2d.subgroup.ts (see there for why): a workgroup is one subgroup of 8 lanes and
// computes a 16 x 32 tile of C; lane l owns the 16 rows x columns n0 + 4l .. 4l+3. Per step of 8*V
// k values, lane l loads V elements of each of the 16 rows of A (V = 4 when K % 32 == 0, else 1, with
// a mask on the tail), which every lane then reads by subgroupBroadcast; each lane loads its own 4
// elements of B per k. 4 + 16/8 loads per lane feed 64 FMAs.
//
// It assumes subgroups of exactly 8 lanes, so the pipeline refuses adapters that report another size.

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { MATMUL_PARAMS_WGSL, type MatmulKernel } from './matmul.common.js';
import { subgroupVec4MatmulWgsl } from './matmul.subgroup_vec4.js';

const LANES = 8;
const ROWS = 16;
const COLS = 4 * LANES;
const XYZW = ['x', 'y', 'z', 'w'];

const range = (n: number) => [...Array(n).keys()];
const each = (n: number, f: (i: number) => string) => range(n).map(f).join('\n');

/** One step of 8*V values of k from k0: load V per lane and row, broadcast, multiply. */
function kStep(v: 1 | 4): string {
  const load = (r: number) =>
    v === 4 ? `vec4f(a[o${r} + kl], a[o${r} + kl + 1u], a[o${r} + kl + 2u], a[o${r} + kl + 3u])` : `select(0.0, a[o${r} + min(kl, p.K - 1u)], kl < p.K)`;
  const steps = range(LANES).map((j) => {
    const fmas = range(v).map((cc) => {
      // On the V = 1 tail, k is clamped so B's load stays in bounds; the broadcast A value is 0 there.
      const k = v === 4 ? `k0 + ${v * j + cc}u` : `min(k0 + ${j}u, p.K - 1u)`;
      const s = (r: number) => (v === 4 ? `s${r}.${XYZW[cc]}` : `s${r}`);
      return `      { let bk = brow(${k});\n${each(ROWS, (r) => `        acc${r} += ${s(r)} * bk;`)} }`;
    });
    return `    {\n${each(ROWS, (r) => `      let s${r} = subgroupBroadcast(a${r}, ${j}u);`)}\n${fmas.join('\n')}\n    }`;
  });
  return `    let kl = k0 + ${v}u * lane;
${each(ROWS, (r) => `    let a${r} = ${load(r)};`)}
${steps.join('\n')}`;
}

const wgsl = () => /* wgsl */ `enable subgroups;
${MATMUL_PARAMS_WGSL}
${LINEAR_WORKGROUP}
var<private> bcol: vec4u; // offsets of this lane's 4 columns of B (clamped to N - 1 for loads)

// B's row k for this lane's 4 columns.
fn brow(k: u32) -> vec4f {
  let o = p.bOff + k * p.sk;
  return vec4f(b[o + bcol.x], b[o + bcol.y], b[o + bcol.z], b[o + bcol.w]);
}

@compute @workgroup_size(${LANES})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tilesN = (p.N + ${COLS - 1}u) / ${COLS}u;
  let tile = linear_workgroup(wid, nwg);
  if (tile >= ((p.M + ${ROWS - 1}u) / ${ROWS}u) * tilesN) { return; } // uniform per workgroup
  let m0 = (tile / tilesN) * ${ROWS}u;
  let n0 = (tile % tilesN) * ${COLS}u + 4u * lane;
  bcol = min(vec4u(n0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u)) * p.sn;
  // Start of each row of A (rows past M repeat the last row: computed, never stored).
${each(ROWS, (r) => `  let o${r} = p.aOff + min(m0 + ${r}u, p.M - 1u) * p.lda;
  var acc${r} = vec4f(0.0);`)}

  if (p.K % ${4 * LANES}u == 0u) {
    for (var k0 = 0u; k0 < p.K; k0 += ${4 * LANES}u) {
${kStep(4)}
    }
  } else {
    for (var k0 = 0u; k0 < p.K; k0 += ${LANES}u) {
${kStep(1)}
    }
  }

  for (var j = 0u; j < 4u; j++) {
    let n = n0 + j;
    if (n >= p.N) { break; }
${each(ROWS, (r) => `    if (m0 + ${r}u < p.M) { store(m0 + ${r}u, n, acc${r}[j]); }`)}
  }
}
`;

export const subgroupMatmulKernel: MatmulKernel = {
  tileM: ROWS,
  tileN: COLS,
  pipeline(gpu: Gpu, { vec4 }) {
    const { subgroups, subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.features;
    if (!subgroups || lo !== LANES || hi !== LANES)
      throw new Error(`matmul.subgroup needs subgroups of exactly ${LANES} lanes (adapter: ${subgroups ? `${lo}..${hi}` : 'no subgroups'})`);
    return vec4 ? gpu.pipeline('matmul.subgroup.vec4', subgroupVec4MatmulWgsl) : gpu.pipeline('matmul.subgroup', wgsl);
  },
};
