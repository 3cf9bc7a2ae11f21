// npm run bench:tiled [-- --only error|memory]
//
// The two tables of docs/models.md, "Tiled consistency decode":
// - error: the tiled decode against the untiled one on the tiny consistency model (its own encoding of
//   gt1.png, center crop resized to 96x96 and 128x128, seed 0, 2 steps): PSNR on 8-bit images, max |diff|
//   on the floats, for several tile sizes and overlaps (a real run on the adapter, a minute on lavapipe);
// - memory: the planned peak of live activations of the full-size decoder (manifest shapes, zero
//   weights, a dry run as in bench/memory.ts) for tiled decodes up to 4096x4096.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { maxAbsDiff } from '../src/check/compare.js';
import { Gpu } from '../src/gpu/gpu.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { centerCrop, fromTensorData, resize, toTensorData } from '../src/io/image.js';
import { readPng } from '../src/io/png.js';
import { psnr } from '../src/metrics/psnr.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import { f32Entry, ParamLoader } from '../src/models/params.js';
import { planTiles, tiledConsistencyDecode } from '../src/models/tiled_consistency.js';

const root = join(import.meta.dirname, '..', '..');
const i = process.argv.indexOf('--only');
const only = i >= 0 ? process.argv[i + 1] : undefined;
const MiB = 2 ** 20;

async function errorTable(): Promise<void> {
  const gpu = await Gpu.create();
  try {
    const cd = await ConsistencyDecoder.load(gpu, join(root, 'test/fixtures/reference/models/tiny-consistency'));
    console.log('\n| image | tileSize / overlap (latent px) | tiles | PSNR vs untiled | max abs diff |\n|---|---|---:|---:|---:|');
    for (const s of [96, 128]) {
      const img = resize(centerCrop(readPng(join(root, 'test/fixtures/images/gt1.png')).image), s, s);
      const x = gpu.upload(toTensorData(img), [1, s, s, 3]);
      const dist = cd.encode(x);
      x.release();
      const readOnce = async (t: Promise<Tensor> | Tensor) => {
        const y = await t;
        const d = await y.read();
        y.release();
        return d;
      };
      const full = await readOnce(cd.decode(dist.mean, { seed: 0 }));
      const other = await readOnce(cd.decode(dist.mean, { seed: 1 }));
      const image = (d: Float32Array) => fromTensorData(d, s, s);
      console.log(`| ${s}x${s} | untiled, seed 1 vs seed 0 | | ${psnr(image(full), image(other)).toFixed(2)} dB | ${maxAbsDiff(full, other).toFixed(3)} |`);
      for (const [tileSize, overlap] of [[s / 8, 0], [8, 0], [8, 2], [8, 4], [6, 2], [6, 4], [4, 2]]) {
        const y = await readOnce(tiledConsistencyDecode(cd, dist.mean, { seed: 0, tileSize, overlap }));
        const tiles = planTiles(s / 8, s / 8, 8, tileSize, overlap).length;
        console.log(`| ${s}x${s} | ${tileSize} / ${overlap} | ${tiles} | ${psnr(image(full), image(y)).toFixed(2)} dB | ${maxAbsDiff(full, y).toFixed(3)} |`);
      }
      dist.release();
    }
    cd.release();
  } finally {
    gpu.destroy();
  }
}

async function memoryTable(): Promise<void> {
  const gpu = await Gpu.create({ dryRun: true });
  try {
    const m = JSON.parse(readFileSync(join(root, 'test/fixtures/reference/manifests/consistency-decoder.json'), 'utf8'));
    const shapes = new Map<string, number[]>(m.keys.map((k: { key: string; shape: number[] }) => [k.key, k.shape]));
    const p = ParamLoader.from((n) => {
      const shape = shapes.get(n);
      return shape && f32Entry(shape, () => new Float32Array(shape.reduce((a, b) => a * b, 1)));
    }, shapes.keys(), 'consistency-decoder manifest');
    const cd = new ConsistencyDecoder(gpu, p, parseConsistencyConfig(m.config, 'manifest'));
    const weights = gpu.pool.getStats().inUseBytes;
    /** Peak live bytes beyond what is held before (weights, cached Winograd U), and the pool's peak, of one decode. */
    const plan = async (s: number, tiled?: { tileSize: number; overlap: number }) => {
      gpu.pool.trim();
      gpu.pool.resetPeak();
      const before = gpu.pool.getStats().inUseBytes;
      const z = gpu.empty([1, s / 8, s / 8, 4], 'latent');
      const noise = [new Float32Array(3 * s * s), new Float32Array(3 * s * s)];
      try {
        (tiled ? await tiledConsistencyDecode(cd, z, { noise, ...tiled }) : cd.decode(z, { noise })).release();
      } finally {
        z.release();
      }
      const { peakInUseBytes, peakAllocatedBytes } = gpu.pool.getStats();
      return `${((peakInUseBytes - before) / MiB).toFixed(0)} | ${(peakAllocatedBytes / MiB).toFixed(0)}`;
    };
    // The default Winograd policy caches a layer's transform on its first use at a small resolution: a
    // warm-up decode at the smallest resolution fills that cache, so every row starts from the same state.
    await plan(256);
    const held = gpu.pool.getStats().inUseBytes;
    console.log(`\nweights ${(weights / MiB).toFixed(0)} MiB, + cached Winograd U after a warm-up ${((held - weights) / MiB).toFixed(0)} MiB (dry run: planned, not executed)`);
    console.log('| image | tileSize / overlap | tiles | UNet pixels run (x image) | peak live beyond weights and cache MiB | pool held MiB |\n|---|---|---:|---:|---:|---:|');
    for (const s of [512, 1024, 2048]) {
      let row: string;
      try {
        row = await plan(s);
      } catch (e) {
        row = `does not fit: ${(e as Error).message.slice(0, 120)} |`;
      }
      console.log(`| ${s}x${s} | untiled | | | ${row} |`);
    }
    for (const [s, tileSize, overlap] of [[512, 32, 8], [1024, 32, 8], [2048, 32, 8], [1024, 64, 16], [2048, 64, 16], [4096, 64, 16]]) {
      const tiles = planTiles(s / 8, s / 8, 8, tileSize, overlap);
      const ratio = tiles.reduce((a, t) => a + t.h * t.w, 0) / (s * s);
      console.log(`| ${s}x${s} | ${tileSize} / ${overlap} | ${tiles.length} | ${ratio.toFixed(2)} | ${await plan(s, { tileSize, overlap })} |`);
    }
    cd.release();
  } finally {
    gpu.destroy();
  }
}

console.log(`tiled consistency decode; ${new Date().toISOString()}`);
if (only !== 'memory') await errorTable();
if (only !== 'error') await memoryTable();
