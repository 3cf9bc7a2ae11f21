// npm run bench:profile [-- --model vae|consistency] [--size 256] [--runs 1] [--top 15] [--weights as-stored|f16]
//
// Where the GPU time of one whole-model run goes, by op kind: one SD VAE decode (a latent of size/8,
// default 32x32 -> 256x256) or one consistency UNet evaluation (--model consistency, --size 64), full
// size random weights of the real shapes (bench/random_weights.ts), after a warm-up run that compiles
// the pipelines and caches what the Winograd policy caches. GPU times come from timestamp queries
// (src/gpu/profile.ts: one pair per op's compute pass); with --runs N each op's time is the median
// over N profiled runs. Prints a markdown table of kinds (ms, share, ops, GFLOP/s where the ops
// record FLOPs) and the slowest single ops. Kinds are read from the op labels the kernels write
// (`<module path> [shape]... k3x3s1 winograd F(4x4,3x3)`, `... stats`, `... apply`, ...).

import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import type { WeightStorage } from '../src/kernels/weight_format.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { randomLoader } from './random_weights.js';

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
  const gpu = await Gpu.create();
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
  process.stderr.write(`${what}: warm-up run\n`);
  const warm = await once(false);
  process.stderr.write(`  warm-up ${(warm.wall / 1000).toFixed(2)} s\n`);
  const perOp: number[][] = [];
  const walls: number[] = [];
  let labels: string[] = [];
  let flops: number[] = [];
  for (let r = 0; r < runs; r++) {
    const { wall, log, times } = await once(true);
    if (times.length !== log.length) throw new Error(`profiler returned ${times.length} timings for ${log.length} ops`);
    labels = times.map((t) => t.label);
    flops = log.map((o) => o.flops);
    times.forEach((t, i) => (perOp[i] ??= []).push(t.ms));
    walls.push(wall);
    process.stderr.write(`  profiled run ${r + 1}/${runs}: ${(wall / 1000).toFixed(2)} s wall\n`);
  }
  release();
  gpu.destroy();
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const ms = perOp.map(median);
  const total = ms.reduce((a, b) => a + b, 0);
  const kinds = new Map<string, { ms: number; ops: number; flops: number }>();
  labels.forEach((l, i) => {
    const k = kinds.get(opKind(l)) ?? { ms: 0, ops: 0, flops: 0 };
    k.ms += ms[i];
    k.ops++;
    k.flops += flops[i];
    kinds.set(opKind(l), k);
  });
  console.log(`${what}; ${gpu.adapterName}; ${new Date().toISOString()}; weights ${storage}; median of ${runs} profiled run(s) after a warm-up`);
  console.log(`wall ${(median(walls) / 1000).toFixed(2)} s, GPU time (sum over ops) ${(total / 1000).toFixed(2)} s, ${labels.length} ops\n`);
  console.log('| op kind | GPU ms | share | ops | GFLOP/s |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [k, v] of [...kinds].sort((a, b) => b[1].ms - a[1].ms))
    console.log(`| ${k} | ${v.ms.toFixed(0)} | ${((100 * v.ms) / total).toFixed(1)}% | ${v.ops} | ${v.flops ? (v.flops / 1e6 / v.ms).toFixed(1) : ''} |`);
  console.log(`\nslowest ${top} ops:\n\n| op | GPU ms | GFLOP/s |\n|---|---:|---:|`);
  const order = ms.map((_, i) => i).sort((a, b) => ms[b] - ms[a]);
  for (const i of order.slice(0, top)) console.log(`| ${labels[i]} | ${ms[i].toFixed(1)} | ${flops[i] ? (flops[i] / 1e6 / ms[i]).toFixed(1) : ''} |`);
}

if (process.argv[1]?.endsWith('profile.js')) await main();
