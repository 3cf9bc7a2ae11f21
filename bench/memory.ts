// npm run bench:memory [-- --sizes 256,512,1024]
//
// The planned GPU memory of the full-size models (manifest shapes), from a dry run: every op is
// planned exactly as in a real run (same shapes, bands, pooled buffers, releases) but nothing is
// dispatched, so the pool's peak is what a real run holds, at any size, in seconds. f32 throughout
// (the kernels store f32); the f16 column halves the activation bytes: an estimate of what f16
// storage would need, since every activation would be half the size (weights likewise).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import { f32Entry, ParamLoader } from '../src/models/params.js';

const root = join(import.meta.dirname, '..', '..');
const i = process.argv.indexOf('--sizes');
const sizes = (i >= 0 ? process.argv[i + 1] : '256,512,1024').split(',').map(Number);
const MiB = 2 ** 20;

function zeroLoader(file: string): { p: ParamLoader; config: Record<string, unknown> } {
  const m = JSON.parse(readFileSync(join(root, 'test/fixtures/reference/manifests', file), 'utf8'));
  const shapes = new Map<string, number[]>(m.keys.map((k: { key: string; shape: number[] }) => [k.key, k.shape]));
  const p = ParamLoader.from((n) => {
    const shape = shapes.get(n);
    return shape && f32Entry(shape, () => new Float32Array(shape.reduce((a, b) => a * b, 1)));
  }, shapes.keys(), file);
  return { p, config: m.config };
}

const gpu = await Gpu.create({ dryRun: true });
const rows: string[] = [];
const plan = (what: string, weightsBytes: number, run: () => void) => {
  gpu.pool.trim(); // each row starts from the weights alone
  gpu.pool.resetPeak();
  run();
  const { peakInUseBytes: peak, peakAllocatedBytes: held } = gpu.pool.getStats();
  const act = peak - weightsBytes;
  rows.push(`| ${what} | ${(weightsBytes / MiB).toFixed(0)} | ${(act / MiB).toFixed(0)} | ${(peak / MiB).toFixed(0)} | ${(held / MiB).toFixed(0)} | ${((peak / 2) / MiB).toFixed(0)} |`);
};
try {
  {
    const { p, config } = zeroLoader('sd-vae-ft-mse.json');
    const vae = new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(config, 'manifest'));
    const weights = gpu.pool.getStats().inUseBytes;
    for (const s of sizes) {
      const z = gpu.empty([1, s / 8, s / 8, 4], 'latent');
      plan(`SD VAE decode -> ${s}x${s}`, weights + z.byteLength, () => vae.decode(z).release());
      z.release();
      const x = gpu.empty([1, s, s, 3], 'image');
      plan(`SD VAE encode ${s}x${s}`, weights + x.byteLength, () => vae.encode(x).release());
      x.release();
    }
    vae.release();
  }
  {
    const { p, config } = zeroLoader('consistency-decoder.json');
    const cd = new ConsistencyDecoder(gpu, p, parseConsistencyConfig(config, 'manifest'));
    const weights = gpu.pool.getStats().inUseBytes;
    for (const s of sizes) {
      const z = gpu.empty([1, s / 8, s / 8, 4], 'latent');
      plan(`consistency decode (2 steps) -> ${s}x${s}`, weights + z.byteLength, () => cd.decode(z, { noise: [new Float32Array(3 * s * s), new Float32Array(3 * s * s)] }).release());
      z.release();
    }
    cd.release();
  }
} finally {
  gpu.destroy();
}
console.log(`adapter: ${gpu.adapterName} (dry run: planned, not executed); ${new Date().toISOString()}`);
console.log('\n| run | weights MiB | peak live activations MiB | peak live total MiB (f32) | GPU memory the pool held MiB | peak live total if stored f16 (estimate) MiB |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
