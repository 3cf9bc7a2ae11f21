// npm run bench:winograd-cores [-- --rounds 5] [--shapes 0,1,2] [--tile 2|4] [--only core|conv] [--clock wall|cpu]
//
// Winograd's two GEMM cores side by side on this adapter: the subgroup core (winograd.gemm.ts, 8-lane
// subgroups only) and the workgroup-memory core (winograd.gemm_shared.ts, any adapter). The machine
// is shared, so the two are measured alternately (A, B, A, B, ...), each measurement the median of a
// few synced runs, and the report is the median of the per-round ratios, which a load that changes
// slowly cancels out of. Two levels:
//   - core: the P GEMMs alone on random V and U at the conv's padded shape (GFLOP/s of the GEMMs);
//   - conv: the whole Winograd conv2d (transforms included) with each core, the largest difference
//     between the two outputs (0 = bit-identical), and the direct tiled conv (what adapters without
//     8-lane subgroups ran before Winograd had a portable core) timed alternately with the shared one.
// Where the adapter has no 8-lane subgroups only the shared core runs (no ratio).

import { Gpu } from '../src/gpu/gpu.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { packParams } from '../src/gpu/wgsl.js';
import { conv2d, Conv2dWeight, type ConvVariant } from '../src/kernels/conv2d.js';
import { copyV, V_TEXTURE_WIDTH, vTextureRows, WINOGRAD_ROWS, winogradGemm } from '../src/kernels/winograd.gemm.js';
import { winogradGemmShared } from '../src/kernels/winograd.gemm_shared.js';
import { textureBinding } from '../src/kernels/winograd.weights.js';
import { CONV_SHAPES, type ConvShape } from './kernels.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const rounds = Number(arg('rounds') ?? 5);
const tile = Number(arg('tile') ?? 4) as 2 | 4;
const only = arg('only');
const clock = arg('clock') ?? 'wall'; // wall | cpu
// Default: the three shapes of the SD VAE decoder's 3x3 convs at a 256x256 image (32, 64, 128 px).
const shapes = (arg('shapes')?.split(',').map(Number) ?? [0, 1, 2]).map((i) => CONV_SHAPES[i]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const up = (v: number, m: number) => Math.ceil(v / m) * m;

function randomData(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
}

/**
 * Now in ms on the chosen clock: wall time, or (--clock cpu) this process's CPU time, which on a CPU
 * adapter (lavapipe's worker threads run in this process) varies far less when other jobs share the cores.
 */
const now = clock === 'cpu' ? () => ((u) => (u.user + u.system) / 1e3)(process.cpuUsage()) : () => performance.now();

/** Median ms of `runs` synced runs of `run` (after one untimed run). */
async function timeRuns(gpu: Gpu, run: () => Tensor, runs: number): Promise<number> {
  run().release();
  await gpu.sync();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = now();
    const y = run();
    await gpu.sync();
    ms.push(now() - t0);
    y.release();
  }
  return median(ms);
}

/** Runs `a` and `b` alternately for `rounds` rounds; medians of each and of the ratio b / a. */
async function alternate(a: () => Promise<number>, b: () => Promise<number>) {
  const [ta, tb, ratio]: number[][] = [[], [], []];
  for (let r = 0; r < rounds; r++) {
    ta.push(await a());
    tb.push(await b());
    ratio.push(tb[r] / ta[r]);
  }
  return { a: median(ta), b: median(tb), ratio: median(ratio), spread: [Math.min(...ratio), Math.max(...ratio)] };
}

const gpu = await Gpu.create();
const f = gpu.features;
const both = f.subgroups && f.subgroupMinSize === 8 && f.subgroupMaxSize === 8;
console.log(`adapter: ${gpu.adapterName}; subgroups ${f.subgroups ? `${f.subgroupMinSize}..${f.subgroupMaxSize}` : 'none'}; F(${tile}x${tile}, 3x3); ${rounds} alternating rounds; ${clock} time; ${new Date().toISOString()}`);
const rows: string[] = [];
const fmt = (v: number) => v.toFixed(1);

async function coreRow(s: ConvShape) {
  const P = (tile + 2) ** 2;
  const [tp, kp, np] = [up(Math.ceil(s.hw / tile) ** 2, WINOGRAD_ROWS), up(s.cin, 32), up(s.cout, 32)];
  const v = gpu.upload(randomData(P * tp * kp, 1), [P, tp, kp]);
  const usage = GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST;
  const u = gpu.device.createTexture({ size: [np / 4, kp, P], format: 'rgba32float', usage });
  gpu.device.queue.writeTexture({ texture: u }, randomData(P * kp * np, 2).buffer, { bytesPerRow: np * 4, rowsPerImage: kp }, [np / 4, kp, P]);
  const uView = textureBinding(u);
  // The subgroup core fetches V from a texture (copied from v once, as winograd.ts does per band); the shared core reads v.
  const vt = gpu.device.createTexture({ size: [V_TEXTURE_WIDTH, vTextureRows(tp, kp), P], format: 'rgba32float', usage });
  copyV(gpu, 'winograd gemm core: V', v, vt, tp, kp, P);
  const core = (c: typeof winogradGemm | typeof winogradGemmShared) => {
    const pipeline = c.pipeline(gpu);
    const a = c === winogradGemm ? textureBinding(vt) : gpu.bindWhole(v);
    return () => {
      const m = gpu.empty([P, tp, np]);
      gpu.op('winograd gemm core', (pass) => gpu.dispatch(pass, pipeline, packParams([tp, kp, np, P]), [a, uView, gpu.bindWhole(m)], c.groups(tp, np, P)));
      return m;
    };
  };
  const gflop = (2 * P * tp * kp * np) / 1e9;
  // A rate only from wall time (CPU time sums all cores' work).
  const rate = (ms: number) => (clock === 'wall' ? ` (${(gflop / (ms / 1e3)).toFixed(1)} GFLOP/s)` : '');
  const what = `core ${P}x[${tp}x${kp}]x[${kp}x${np}]`;
  if (both) {
    const r = await alternate(() => timeRuns(gpu, core(winogradGemm), 3), () => timeRuns(gpu, core(winogradGemmShared), 3));
    rows.push(`| ${what} | ${fmt(r.a)}${rate(r.a)} | ${fmt(r.b)}${rate(r.b)} | ${r.ratio.toFixed(2)} (${r.spread.map((x) => x.toFixed(2)).join('-')}) | | |`);
  } else {
    const ms = await timeRuns(gpu, core(winogradGemmShared), 3);
    rows.push(`| ${what} | - | ${fmt(ms)}${rate(ms)} | | | |`);
  }
  console.log(rows[rows.length - 1]);
  v.release();
  u.destroy();
  vt.destroy();
}

async function convRow(s: ConvShape) {
  const w = Conv2dWeight.fromTorch(gpu, randomData(s.cout * s.cin * 9, 2).map((x) => x / Math.sqrt(9 * s.cin)), [s.cout, s.cin, 3, 3], randomData(s.cout, 3));
  const x = gpu.upload(randomData(s.hw * s.hw * s.cin, 1), [1, s.hw, s.hw, s.cin]);
  const run = (variant: ConvVariant) => () => conv2d(gpu, x, w, { padding: [1, 1, 1, 1], variant });
  const [sub, shared] = (tile === 4 ? ['winograd4', 'winograd4-shared'] : ['winograd', 'winograd-shared']) as ConvVariant[];
  const what = `conv2d ${s.cin}->${s.cout} 3x3 ${s.hw}x${s.hw}`;
  // The direct tiled conv (what adapters without 8-lane subgroups ran before) against the shared core.
  const direct = await alternate(() => timeRuns(gpu, run(shared), 1), () => timeRuns(gpu, run('tiled'), 1));
  const vsDirect = `${fmt(direct.b)} (${direct.ratio.toFixed(2)}x the shared core's time)`;
  if (both) {
    const r = await alternate(() => timeRuns(gpu, run(sub), 3), () => timeRuns(gpu, run(shared), 3));
    const read = async (t: Tensor) => {
      const data = await t.read();
      t.release();
      return data;
    };
    const [ya, yb] = [await read(run(sub)()), await read(run(shared)())];
    const diff = ya.reduce((m, v, i) => Math.max(m, Math.abs(v - yb[i])), 0);
    rows.push(`| ${what} | ${fmt(r.a)} | ${fmt(r.b)} | ${r.ratio.toFixed(2)} (${r.spread.map((x) => x.toFixed(2)).join('-')}) | ${diff === 0 ? '0 (bit-identical)' : diff.toExponential(1)} | ${vsDirect} |`);
  } else {
    rows.push(`| ${what} | - | ${fmt(direct.a)} | | | ${vsDirect} |`);
  }
  console.log(rows[rows.length - 1]);
  x.release();
  w.release();
}

try {
  for (const s of shapes) {
    if (only !== 'conv') await coreRow(s);
    if (only !== 'core') await convRow(s);
  }
} finally {
  gpu.destroy();
}
console.log(`\n| F(${tile}x${tile}), ${clock} time | subgroup core ms | shared core ms | shared / subgroup (min-max of ${rounds} rounds) | max abs diff of outputs | direct tiled conv ms |`);
console.log('|---|---:|---:|---:|---|---:|');
for (const r of rows) console.log(r);
