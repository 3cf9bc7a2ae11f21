// npm run bench:models [-- --only vae|consistency] [--runs N] [--vae-size 256] [--unet-sizes 64,128] [--weights as-stored|f16] [--u-cache-pixels N] [--arena off] [--tune off|cached] [--poll MS]
//
// Whole models at their real size, with random weights of the real shapes (from the reference
// manifests): SD VAE decode (a 1x4x32x32 latent -> 256x256) and encode (256x256), one consistency
// UNet evaluation and a full 2-step consistency decode at 64x64 and 128x128 output. Medians of
// several runs after a warm-up run (which also compiles the pipelines), the GFLOP each run does (the
// multiply-adds x 2 of every conv and matmul, as recorded by the ops), the effective GFLOP/s, and the
// peak GPU memory the buffer pool held.

import { execSync } from 'node:child_process';
import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import { randomLoader } from './random_weights.js';
import { measure, type Measured } from './measure.js';
import type { WeightStorage } from '../src/kernels/weight_format.js';
import { winogradPolicy } from '../src/kernels/winograd.weights.js';
import { convPolicy } from '../src/kernels/conv2d.js';
import type { TuneMode } from '../src/gpu/tune.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = arg('only');
const runs = Number(arg('runs') ?? 3);
const vaeSize = Number(arg('vae-size') ?? 256);
const unetSizes = (arg('unet-sizes') ?? '64,128').split(',').map(Number);
/** 'f16': the random f32 weights stored as f16 (what an F16 checkpoint gives, at its speed). */
const storage = (arg('weights') ?? 'as-stored') as WeightStorage;
/** winogradPolicy.cacheMaxPixels for this run (what caching more Winograd U buys in time). */
if (arg('u-cache-pixels')) winogradPolicy.cacheMaxPixels = Number(arg('u-cache-pixels'));

/** `--tune cached`: convs take the tuner's winners (the user's cache, else the shipped table) instead of the rule. */
if (arg('tune')) convPolicy.tune = arg('tune') as TuneMode;

/** `--arena off`: activations in the plain pool instead of the planned arena (for an A/B of its speed). */
/** `--poll 0`: Dawn's own busy polling while waiting (GpuOptions.pollIntervalMs), for an A/B against the default. */
const gpu = await Gpu.create({ arena: arg('arena') !== 'off', pollIntervalMs: arg('poll') === undefined ? undefined : Number(arg('poll')) });
let mesa = '';
try {
  mesa = execSync('dpkg-query -W mesa-vulkan-drivers', { encoding: 'utf8' }).trim();
} catch {
  /* not Debian */
}
console.log(`adapter: ${gpu.adapterName}${mesa ? ` (${mesa})` : ''}; ${new Date().toISOString()}; runs: ${runs} after a warm-up; weights ${storage}; arena ${gpu.useArena ? 'on' : 'off'}; tune ${convPolicy.tune}; poll ${arg('poll') ?? 'default'}`);
const results: Measured[] = [];
const latent = (h: number, w: number) => gpu.upload(Float32Array.from({ length: h * w * 4 }, (_, i) => Math.sin(i * 0.7) * 4), [1, h, w, 4], 'latent');
const image = (h: number, w: number) => gpu.upload(Float32Array.from({ length: h * w * 3 }, (_, i) => Math.sin(i * 0.01)), [1, h, w, 3], 'image');
try {
  if (only !== 'consistency') {
    const { p, config } = randomLoader('sd-vae-ft-mse.json', storage);
    const vae = new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(config, 'manifest'));
    p.finish();
    const z = latent(vaeSize / 8, vaeSize / 8);
    results.push(await measure(gpu, `SD VAE decode 1x4x${vaeSize / 8}x${vaeSize / 8} -> ${vaeSize}x${vaeSize}`, () => vae.decode(z), runs));
    const x = image(vaeSize, vaeSize);
    results.push(await measure(gpu, `SD VAE encode ${vaeSize}x${vaeSize}`, () => {
      const d = vae.encode(x);
      d.logvar.release();
      d.std.release();
      return d.mean;
    }, runs));
    for (const t of [z, x]) t.release();
    vae.release();
  }
  if (only !== 'vae') {
    const { p, config } = randomLoader('consistency-decoder.json', storage);
    const cd = new ConsistencyDecoder(gpu, p, parseConsistencyConfig(config, 'manifest'));
    p.finish();
    for (const size of unetSizes) {
      const unetIn = gpu.upload(Float32Array.from({ length: size * size * 7 }, (_, i) => Math.sin(i * 0.3)), [1, size, size, 7], 'unet_input');
      results.push(await measure(gpu, `consistency UNet, one evaluation at ${size}x${size}`, () => cd.decoder_unet.forward({ gpu }, unetIn, 1008), runs));
      unetIn.release();
      const z = latent(size / 8, size / 8);
      results.push(await measure(gpu, `consistency decode, 2 steps -> ${size}x${size}`, () => cd.decode(z, { seed: 0 }), runs));
      z.release();
    }
    cd.release();
  }
} finally {
  gpu.destroy();
}

console.log('\n| model run | median s | runs (s) | GFLOP | effective GFLOP/s | peak GPU memory MiB |');
console.log('|---|---:|---|---:|---:|---:|');
for (const r of results)
  console.log(`| ${r.what} | ${r.medianS.toFixed(2)} | ${r.runs.map((t) => t.toFixed(1)).join(', ')} | ${r.gflop.toFixed(0)} | ${(r.gflop / r.medianS).toFixed(1)} | ${r.peakMiB.toFixed(0)} |`);
