// npm run bench:taesd [-- --runs N] [--sizes 256,512] [--vae-sizes 256,512] [--vae-runs N]
//
// TAESD (AutoencoderTiny, the default madebyollin/taesd shapes from the reference manifest, random
// weights) decode time next to the SD VAE decoder's (sd-vae-ft-mse shapes) on the same device in the
// same process: medians of N runs (the SD VAE: --vae-runs, default 1, it is ~20x slower) after a warm-up run (which compiles the pipelines), the GFLOP each
// run records (2 x the multiply-adds of every conv), effective GFLOP/s, and the pool's peak memory.

import { measure } from './measure.js';
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { AutoencoderTiny, parseAutoencoderTinyConfig } from '../src/models/autoencoder_tiny.js';
import { f32Entry, ParamLoader } from '../src/models/params.js';

const root = join(import.meta.dirname, '..', '..');
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const runs = Number(arg('runs') ?? 3);
const sizes = (arg('sizes') ?? '256,512').split(',').map(Number);
const vaeSizes = (arg('vae-sizes') ?? '256,512').split(',').filter(Boolean).map(Number);
const vaeRuns = Number(arg('vae-runs') ?? 1);

/** Random parameters with the manifest's names and shapes, scaled by fan-in so activations stay O(1). */
function randomLoader(file: string): { p: ParamLoader; config: Record<string, unknown> } {
  const m: { config: Record<string, unknown>; keys: { key: string; shape: number[] }[] } = JSON.parse(readFileSync(join(root, 'test/fixtures/reference/manifests', file), 'utf8'));
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const shapes = new Map(m.keys.map((k) => [k.key, k.shape]));
  const values = (name: string, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0] : 1;
    return Float32Array.from({ length: n }, () => (/norm.*weight$/.test(name) ? 1 + 0.1 * rand() : name.endsWith('bias') ? 0.1 * rand() : (1.7 * rand()) / Math.sqrt(fanIn)));
  };
  const p = ParamLoader.from((name) => {
    const shape = shapes.get(name);
    return shape && f32Entry(shape, () => values(name, shape));
  }, shapes.keys(), file);
  return { p, config: m.config };
}


const gpu = await Gpu.create();
let mesa = '';
try {
  mesa = execSync('dpkg-query -W mesa-vulkan-drivers', { encoding: 'utf8' }).trim();
} catch {
  /* not Debian */
}
console.log(`adapter: ${gpu.adapterName}${mesa ? ` (${mesa})` : ''}; ${new Date().toISOString()}; runs after a warm-up: TAESD ${runs}, SD VAE ${vaeRuns}`);
const latent = (h: number) => gpu.upload(Float32Array.from({ length: h * h * 4 }, (_, i) => Math.sin(i * 0.7) * 0.8), [1, h, h, 4], 'latent');
const results: Awaited<ReturnType<typeof measure>>[] = [];
try {
  const t = randomLoader('taesd.json');
  const taesd = new AutoencoderTiny(gpu, t.p, parseAutoencoderTinyConfig(t.config, 'taesd.json'));
  t.p.finish();
  for (const size of sizes) {
    const z = latent(size / 8);
    results.push(await measure(gpu, `TAESD decode 1x4x${size / 8}x${size / 8} -> ${size}x${size}`, () => taesd.decode(z), runs));
    z.release();
  }
  taesd.release();
  if (vaeSizes.length) {
    const v = randomLoader('sd-vae-ft-mse.json');
    const vae = new AutoencoderKL(gpu, v.p, parseAutoencoderKLConfig(v.config, 'sd-vae-ft-mse.json'));
    v.p.finish();
    for (const size of vaeSizes) {
      const z = latent(size / 8);
      results.push(await measure(gpu, `SD VAE decode 1x4x${size / 8}x${size / 8} -> ${size}x${size}`, () => vae.decode(z), vaeRuns));
      z.release();
    }
    vae.release();
  }
} finally {
  gpu.destroy();
}
console.log('\n| decoder run | median s | runs (s) | GFLOP | effective GFLOP/s | peak GPU memory MiB |');
console.log('|---|---:|---|---:|---:|---:|');
for (const r of results)
  console.log(`| ${r.what} | ${r.medianS.toFixed(2)} | ${r.runs.map((x) => x.toFixed(2)).join(', ')} | ${r.gflop.toFixed(1)} | ${(r.gflop / r.medianS).toFixed(1)} | ${r.peakMiB.toFixed(0)} |`);
