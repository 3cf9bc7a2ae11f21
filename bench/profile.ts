// npm run bench:profile [-- --model vae|consistency] [--size 256] [--runs 1] [--top 15] [--weights as-stored|f16] [--ab] [--profile-warm-up] [--arena off] [--tune off|cached]
//
// Where the GPU time of one whole-model run goes, by op kind: one SD VAE decode (a latent of size/8,
// default 32x32 -> 256x256) or one consistency UNet evaluation (--model consistency, --size 64), full
// size random weights of the real shapes (bench/random_weights.ts), after a warm-up run that compiles
// the pipelines and caches what the Winograd policy caches. GPU times come from timestamp queries
// (src/gpu/profile.ts: one pair per op's compute pass); with --runs N each op's time is the median
// over N profiled runs. Prints a markdown table of kinds (ms, share, ops, GFLOP/s where the ops
// record FLOPs) and the slowest single ops. Kinds are read from the op labels the kernels write
// (`<module path> [shape]... k3x3s1 winograd F(4x4,3x3) input|gemm|output`, `... stats`, `... apply`, ...);
// the Winograd convs are also split by stage (input transforms, GEMMs, output transforms).
// --ab: the same model with the hot-spot changes of issue 12 switched off (1x1 convs on the direct
// kernel, group norm's wide rows on the scalar kernels, attention with transposed-B scores) and on,
// alternating run by run (warm-up for each first), and a table of both per op kind. --profile-warm-up
// also profiles the first (warm-up) run, to see what a first run pays beyond a steady one.

import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import type { WeightStorage } from '../src/kernels/weight_format.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { randomLoader } from './random_weights.js';
import { pointwisePolicy } from '../src/kernels/conv1x1.gemm.js';
import { groupNormPolicy } from '../src/kernels/group_norm.js';
import { attentionPolicy } from '../src/models/attention.js';
import { convPolicy } from '../src/kernels/conv2d.js';
import { tuning, type TuneMode } from '../src/gpu/tune.js';
import { fileTuneStore } from '../src/io/tune_file.js';

/** The hot-spot changes on (the default) or off (as before them). */
function hotspots(on: boolean): void {
  pointwisePolicy.enabled = on;
  groupNormPolicy.wide = on;
  attentionPolicy.transposeK = on;
}

/** The op kind of a label, for grouping (order matters: the first match wins). */
export function opKind(label: string): string {
  if (label.startsWith('winograd weight transform')) return 'Winograd weight transform (U)';
  if (/ winograd F\(/.test(label)) return 'conv 3x3, Winograd';
  if (/\] k1x1s\d/.test(label)) return /to_qkv|to_out|time_emb_proj|\.linear/.test(label) ? 'linear (1x1 conv: attention / embedding projections)' : 'conv 1x1';
  if (/\] k\d+x\d+s\d/.test(label)) return 'conv kxk, direct';
  if (/ stats$/.test(label)) return 'group norm: stats';
  if (/ apply$/.test(label)) return 'group norm: apply';
  if (/\.(scores|probs_v) \[/.test(label)) return 'attention matmuls';
  if (/\.softmax \[/.test(label)) return 'attention softmax';
  if (/\.key_t \[/.test(label)) return 'attention kᵀ transpose';
  if (/upsample/.test(label)) return 'upsample';
  if (/\.(add|residual) \[/.test(label)) return 'elementwise add';
  if (/->(f16|f32)$/.test(label)) return 'cast';
  return 'other';
}

/** A Winograd conv pass's stage (winograd.ts labels its three passes `... input|gemm|output`), else undefined. */
export function winogradStage(label: string): 'input transforms' | 'GEMMs' | 'output transforms' | undefined {
  if (opKind(label) !== 'conv 3x3, Winograd') return undefined;
  const stages = { input: 'input transforms', gemm: 'GEMMs', output: 'output transforms' } as const;
  return stages[label.slice(label.lastIndexOf(' ') + 1) as keyof typeof stages];
}

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

async function main(): Promise<void> {
  const model = arg('model') ?? 'vae';
  const size = Number(arg('size') ?? (model === 'vae' ? 256 : 64));
  const runs = Number(arg('runs') ?? 1);
  const top = Number(arg('top') ?? 15);
  const storage = (arg('weights') ?? 'as-stored') as WeightStorage;
  // --tune cached: the tuner's winners (its file store, as the CLI's, then the shipped table; else the rule).
  if (arg('tune')) {
    convPolicy.tune = arg('tune') as TuneMode;
    if (convPolicy.tune !== 'off') tuning.store = fileTuneStore();
  }
  const gpu = await Gpu.create({ arena: arg('arena') !== 'off' }); // --arena off: pooled buffers only (an A/B of the arena)
  if (!gpu.profiler.supported) throw new Error(`${gpu.adapterName}: no timestamp-query feature, so no GPU times to profile`);
  let run: () => Tensor;
  let what: string;
  let release: () => void;
  if (model === 'vae') {
    const { p, config } = randomLoader('sd-vae-ft-mse.json', storage);
    const vae = new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(config, 'manifest'));
    p.finish();
    const z = gpu.upload(Float32Array.from({ length: (size / 8) ** 2 * 4 }, (_, i) => Math.sin(i * 0.7) * 4), [1, size / 8, size / 8, 4], 'latent');
    run = () => vae.decode(z);
    what = `SD VAE decode 1x4x${size / 8}x${size / 8} -> ${size}x${size}`;
    release = () => (z.release(), vae.release());
  } else if (model === 'consistency') {
    const { p, config } = randomLoader('consistency-decoder.json', storage);
    const cd = new ConsistencyDecoder(gpu, p, parseConsistencyConfig(config, 'manifest'));
    p.finish();
    const x = gpu.upload(Float32Array.from({ length: size * size * 7 }, (_, i) => Math.sin(i * 0.3)), [1, size, size, 7], 'unet_input');
    run = () => cd.decoder_unet.forward({ gpu }, x, 1008);
    what = `consistency UNet, one evaluation at ${size}x${size}`;
    release = () => (x.release(), cd.release());
  } else throw new Error(`--model: expected vae or consistency, got ${model}`);

  const once = async (profile: boolean) => {
    gpu.opLog = [];
    if (profile) gpu.profiler.start();
    const t0 = performance.now();
    const y = run();
    await gpu.sync();
    const wall = performance.now() - t0;
    if (profile) gpu.profiler.stop();
    y.release();
    const log = gpu.opLog;
    gpu.opLog = null;
    return { wall, log, times: profile ? gpu.timings() : [] };
  };
  const ab = process.argv.includes('--ab');
  const warmProfile = process.argv.includes('--profile-warm-up');
  const sides = ab ? ['before (changes off)', 'after (changes on)'] : ['profiled'];
  const setSide = (i: number) => hotspots(!ab || i === 1);
  for (let i = 0; i < sides.length; i++) {
    setSide(i);
    process.stderr.write(`${what} (${sides[i]}): warm-up run\n`);
    const warm = await once(warmProfile);
    process.stderr.write(`  warm-up ${(warm.wall / 1000).toFixed(2)} s\n`);
    if (warmProfile) {
      // The first run's GPU time per kind: what a first decode pays beyond a steady one, op by op.
      const byKind = new Map<string, number>();
      warm.times.forEach((t) => byKind.set(opKind(t.label), (byKind.get(opKind(t.label)) ?? 0) + t.ms));
      const sum = warm.times.reduce((a, t) => a + t.ms, 0);
      console.log(`warm-up (first) run: wall ${(warm.wall / 1000).toFixed(2)} s, GPU time (sum over ops) ${(sum / 1000).toFixed(2)} s, ${warm.times.length} ops`);
      for (const [k, ms] of [...byKind].sort((a, b) => b[1] - a[1])) console.log(`  first run: ${k} ${ms.toFixed(0)} ms`);
    }
  }
  const perOp: number[][][] = sides.map(() => []);
  const walls: number[][] = sides.map(() => []);
  const labels: string[][] = sides.map(() => []);
  const flops: number[][] = sides.map(() => []);
  for (let r = 0; r < runs; r++)
    for (let i = 0; i < sides.length; i++) {
      setSide(i);
      const { wall, log, times } = await once(true);
      if (times.length !== log.length) throw new Error(`profiler returned ${times.length} timings for ${log.length} ops`);
      labels[i] = times.map((t) => t.label);
      flops[i] = log.map((o) => o.flops);
      times.forEach((t, j) => (perOp[i][j] ??= []).push(t.ms));
      walls[i].push(wall);
      process.stderr.write(`  ${sides[i]} run ${r + 1}/${runs}: ${(wall / 1000).toFixed(2)} s wall\n`);
    }
  hotspots(true);
  release();
  gpu.destroy();
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const ms = perOp.map((side) => side.map(median));
  const totals = ms.map((m) => m.reduce((a, b) => a + b, 0));
  const kinds = new Map<string, { ms: number[]; ops: number[]; flops: number[] }>();
  sides.forEach((_, i) =>
    labels[i].forEach((l, j) => {
      const k = kinds.get(opKind(l)) ?? { ms: sides.map(() => 0), ops: sides.map(() => 0), flops: sides.map(() => 0) };
      k.ms[i] += ms[i][j];
      k.ops[i]++;
      k.flops[i] += flops[i][j];
      kinds.set(opKind(l), k);
    }),
  );
  const last = sides.length - 1;
  console.log(`${what}; ${gpu.adapterName}; ${new Date().toISOString()}; weights ${storage}; median of ${runs} profiled run(s) per side after a warm-up`);
  sides.forEach((side, i) => console.log(`${side}: wall ${(median(walls[i]) / 1000).toFixed(2)} s, GPU time (sum over ops) ${(totals[i] / 1000).toFixed(2)} s, ${labels[i].length} ops`));
  console.log('');
  if (ab) {
    console.log('| op kind | before GPU ms | after GPU ms | after / before | share after |');
    console.log('|---|---:|---:|---:|---:|');
    for (const [k, v] of [...kinds].sort((a, b) => b[1].ms[1] - a[1].ms[1]))
      console.log(`| ${k} | ${v.ms[0].toFixed(0)} | ${v.ms[1].toFixed(0)} | ${v.ms[0] ? (v.ms[1] / v.ms[0]).toFixed(2) : ''} | ${((100 * v.ms[1]) / totals[1]).toFixed(1)}% |`);
    console.log(`| **total** | **${totals[0].toFixed(0)}** | **${totals[1].toFixed(0)}** | **${(totals[1] / totals[0]).toFixed(3)}** | |`);
  } else {
    console.log('| op kind | GPU ms | share | ops | GFLOP/s |');
    console.log('|---|---:|---:|---:|---:|');
    for (const [k, v] of [...kinds].sort((a, b) => b[1].ms[0] - a[1].ms[0]))
      console.log(`| ${k} | ${v.ms[0].toFixed(0)} | ${((100 * v.ms[0]) / totals[0]).toFixed(1)}% | ${v.ops[0]} | ${v.flops[0] ? (v.flops[0] / 1e6 / v.ms[0]).toFixed(1) : ''} |`);
  }
  // The Winograd convs by stage: where their time goes (the copy of V into its texture has no timestamp).
  const stages = new Map<string, number[]>();
  sides.forEach((_, i) => labels[i].forEach((l, j) => {
    const st = winogradStage(l);
    if (st) (stages.get(st) ?? stages.set(st, sides.map(() => 0)).get(st)!)[i] += ms[i][j];
  }));
  if (stages.size) {
    const all = sides.map((_, i) => [...stages.values()].reduce((a, v) => a + v[i], 0));
    console.log(`\nconv 3x3, Winograd, by stage:\n\n| stage | ${sides.map((side) => `${side} GPU ms | share`).join(' | ')} |\n|---|${sides.map(() => '---:|---:').join('|')}|`);
    for (const [st, v] of stages) console.log(`| ${st} | ${v.map((x, i) => `${x.toFixed(0)} | ${((100 * x) / all[i]).toFixed(1)}%`).join(' | ')} |`);
  }
  console.log(`\nslowest ${top} ops (${sides[last]}):\n\n| op | GPU ms | GFLOP/s |\n|---|---:|---:|`);
  const order = ms[last].map((_, i) => i).sort((a, b) => ms[last][b] - ms[last][a]);
  for (const i of order.slice(0, top)) console.log(`| ${labels[last][i]} | ${ms[last][i].toFixed(1)} | ${flops[last][i] ? (flops[last][i] / 1e6 / ms[last][i]).toFixed(1) : ''} |`);
}

if (process.argv[1]?.endsWith('profile.js')) await main();
