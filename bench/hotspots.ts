// npm run bench:hotspots [-- --only conv1x1|attention|group-norm|load] [--reps 7]  (load runs only when asked for)
//
// A/B benchmarks (bench/ab.ts: old and new alternating in one process, medians, ratio) of the changes
// to the SD VAE decode's and consistency UNet's non-Winograd ops, at the shapes the models run:
//   conv1x1     the 1x1 convs and Linear layers: direct vec4 subgroup kernel vs the GEMM core
//               (src/kernels/conv1x1.gemm.ts), SD VAE decoder shapes at a 32x32 latent;
//   group-norm  group norm + SiLU over rows of more than 1024 channels (the consistency UNet's up-block
//               norm1 at a 64x64 evaluation): the scalar kernels vs the wide row kernels
//               (src/kernels/group_norm.wide.ts);
//   attention   the SD VAE mid-block attention's two GEMMs at 1024 tokens x 512 channels (a 32x32 latent):
//               q·kᵀ on the transposed-B subgroup kernel + probs·v on the vec4 subgroup kernel, vs kᵀ made
//               once (src/kernels/transpose.ts) and both on the GEMM core (src/kernels/matmul.core_views.ts);
//   load        the conv weight reorder every model load runs ([Cout, Cin, kh, kw] -> [kh, kw, Cin, Cout],
//               CPU), over every conv weight of the SD VAE: the generic permuteRaw with an index function
//               vs convToGemmLayout's blocked loops (src/kernels/weight_format.ts);
// Random data; f32 activations and weights.

import { Gpu } from '../src/gpu/gpu.js';
import { conv2d, Conv2dWeight } from '../src/kernels/conv2d.js';
import { pointwisePolicy } from '../src/kernels/conv1x1.gemm.js';
import { groupNorm, groupNormPolicy } from '../src/kernels/group_norm.js';
import { matmul } from '../src/kernels/matmul.js';
import { transpose } from '../src/kernels/transpose.js';
import { convToGemmLayout, permuteRaw } from '../src/kernels/weight_format.js';
import { randomSource } from './random_weights.js';
import { ab, abTable, type AbResult } from './ab.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = arg('only');
const reps = Number(arg('reps') ?? 7);

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

async function conv1x1(gpu: Gpu): Promise<AbResult[]> {
  // [H, W, Cin, Cout]: decoder.up_blocks.3/2.resnets.0.conv_shortcut, mid-block to_qkv and to_out.0 (1024 tokens).
  const shapes = [
    [256, 256, 256, 128, 'conv_shortcut 256->128 at 256x256'],
    [128, 128, 512, 256, 'conv_shortcut 512->256 at 128x128'],
    [1024, 1, 512, 1536, 'attention to_qkv 512->1536, 1024 tokens'],
    [1024, 1, 512, 512, 'attention to_out 512->512, 1024 tokens'],
  ] as const;
  const rows: AbResult[] = [];
  for (const [h, w, cin, cout, what] of shapes) {
    const x = gpu.upload(rand(h * w * cin, 1), [1, h, w, cin]);
    const k = Conv2dWeight.fromTorch(gpu, rand(cin * cout, 2).map((v) => v / Math.sqrt(cin)), [cout, cin, 1, 1], rand(cout, 3));
    const direct = { name: 'direct (subgroup vec4)', run: () => ((pointwisePolicy.enabled = false), conv2d(gpu, x, k)) };
    const gemm = { name: 'GEMM core', run: () => ((pointwisePolicy.enabled = true), conv2d(gpu, x, k)) };
    const r = await ab(gpu, what, direct, gemm, reps);
    const gflop = (2 * h * w * cin * cout) / 1e9;
    rows.push({ ...r, what: `${what} (${(gflop / (r.oldMs / 1000)).toFixed(1)} -> ${(gflop / (r.newMs / 1000)).toFixed(1)} GFLOP/s)` });
    x.release();
    k.release();
  }
  pointwisePolicy.enabled = true;
  return rows;
}

async function wideGroupNorm(gpu: Gpu): Promise<AbResult[]> {
  // [H, W, C]: the consistency UNet's up-block resnets' norm1 inputs (concatenations) at 64x64 and its 8x8 / 16x16 / 32x32 levels.
  const shapes = [[8, 8, 2048], [16, 16, 2048], [16, 16, 1664], [32, 32, 1664], [32, 32, 1280], [64, 64, 1280]] as const;
  const rows: AbResult[] = [];
  for (const [h, w, c] of shapes) {
    const x = gpu.upload(rand(h * w * c, 1), [1, h, w, c]);
    const g = gpu.upload(rand(c, 2).map((v) => 1 + 0.1 * v), [c]);
    const b = gpu.upload(rand(c, 3).map((v) => 0.1 * v), [c]);
    const run = (wide: boolean) => () => ((groupNormPolicy.wide = wide), groupNorm(gpu, x, g, b, { groups: 32, eps: 1e-5, silu: true }));
    rows.push(await ab(gpu, `group_norm+silu [1,${h},${w},${c}]`, { name: 'scalar', run: run(false) }, { name: 'wide row', run: run(true) }, reps));
    for (const t of [x, g, b]) t.release();
  }
  groupNormPolicy.wide = true;
  return rows;
}

async function attentionGemms(gpu: Gpu): Promise<AbResult[]> {
  const rows: AbResult[] = [];
  for (const [tokens, c] of [[1024, 512], [4096, 512]] as const) {
    const qkv = gpu.upload(rand(tokens * 3 * c, 1), [tokens, 3 * c]);
    const chunk = Math.min(tokens, (32 * 2 ** 20) / (4 * tokens)); // attentionLimits.scoreBytes' rows
    const scores = gpu.empty([chunk, tokens]);
    const q = (t0: number) => ({ tensor: qkv, offset: t0 * 3 * c, rows: chunk, cols: c, ld: 3 * c });
    const k = { tensor: qkv, offset: c, rows: tokens, cols: c, ld: 3 * c };
    const v = { tensor: qkv, offset: 2 * c, rows: tokens, cols: c, ld: 3 * c };
    const s = { tensor: scores, offset: 0, rows: chunk, cols: tokens, ld: tokens };
    const run = (core: boolean) => () => {
      const o = gpu.empty([tokens, c]);
      const kT = core ? transpose(gpu, k) : undefined;
      for (let t0 = 0; t0 < tokens; t0 += chunk) {
        if (kT) matmul(gpu, q(t0), { tensor: kT, offset: 0, rows: c, cols: tokens, ld: tokens }, { alpha: 0.04, out: s });
        else matmul(gpu, q(t0), k, { transB: true, alpha: 0.04, out: s, variant: 'subgroup' });
        matmul(gpu, s, v, { out: { tensor: o, offset: t0 * c, rows: chunk, cols: c, ld: c }, variant: core ? 'core' : 'subgroup' });
      }
      kT?.release();
      return o;
    };
    const r = await ab(gpu, `attention GEMMs, ${tokens} tokens x ${c}`, { name: 'subgroup', run: run(false) }, { name: 'core', run: run(true) }, reps);
    const gflop = (2 * 2 * tokens * tokens * c) / 1e9;
    rows.push({ ...r, what: `${r.what} (${(gflop / (r.oldMs / 1000)).toFixed(1)} -> ${(gflop / (r.newMs / 1000)).toFixed(1)} GFLOP/s)` });
    qkv.release();
    scores.release();
  }
  return rows;
}

/** CPU time of the SD VAE's conv weight reorders, old and new alternating; medians. */
function weightReorder(): string {
  const { source, names } = randomSource('sd-vae-ft-mse.json');
  const convs = names.filter((n) => n.endsWith('.weight') && source(n)!.shape.length === 4).map((n) => {
    const e = source(n)!;
    const b = e.bytes() as Uint8Array;
    return { shape: e.shape as number[], values: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) };
  });
  const old = () => {
    for (const { shape: [cout, cin, kh, kw], values } of convs)
      permuteRaw({ format: 'f32', values }, values.length, (i) => {
        const co = i % cout;
        const ci = Math.floor(i / cout) % cin;
        const tap = Math.floor(i / (cout * cin));
        return ((co * cin + ci) * kh + Math.floor(tap / kw)) * kw + (tap % kw);
      });
  };
  const now = () => {
    for (const { shape: [cout, cin, kh, kw], values } of convs) convToGemmLayout({ format: 'f32', values }, cout, cin, kh, kw);
  };
  const times: [number[], number[]] = [[], []];
  for (let r = 0; r < reps; r++)
    [old, now].forEach((f, i) => {
      const t0 = performance.now();
      f();
      times[i].push(performance.now() - t0);
    });
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const elems = convs.reduce((a, c) => a + c.values.length, 0);
  return `| op | permuteRaw ms | convToGemmLayout ms | new / old | reps |\n|---|---:|---:|---:|---:|\n| reorder of the SD VAE's ${convs.length} conv weights (${(elems / 1e6).toFixed(1)} M values, f32) | ${med(times[0]).toFixed(0)} | ${med(times[1]).toFixed(0)} | ${(med(times[1]) / med(times[0])).toFixed(2)} | ${reps} |`;
}

if (only === 'load') {
  console.log(weightReorder());
  process.exit(0);
}
const gpu = await Gpu.create();
console.log(`adapter: ${gpu.adapterName}; ${new Date().toISOString()}; reps ${reps} per side, alternating`);
try {
  if (!only || only === 'conv1x1') console.log(`\n${abTable(await conv1x1(gpu), 'direct', 'GEMM core')}`);
  if (!only || only === 'attention') console.log(`\n${abTable(await attentionGemms(gpu), 'subgroup', 'transpose + core')}`);
  if (!only || only === 'group-norm') console.log(`\n${abTable(await wideGroupNorm(gpu), 'scalar', 'wide row')}`);
} finally {
  gpu.destroy();
}
