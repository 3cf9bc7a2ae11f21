// npm run bench:memory [-- --sizes 256,512,1024] [--peak]
//
// The planned GPU memory of the full-size models (manifest shapes), from a dry run: every op is
// planned exactly as in a real run (same shapes, bands, pooled buffers, Winograd textures, releases)
// but nothing is dispatched, so the pool's statistics are what a real run holds, at any size, in
// seconds. Weights come as F32 or F16 checkpoints (zeros of the real shapes), kept as stored.
// Columns: weights (as stored), cached Winograd U, the peak of live bytes (weights + U + activations +
// scratch + transient U), and what the pool held at its peak (live + idle buffers not yet reused).
// Rows marked "f16 activations" plan the same runs with activations stored as f16 (2 bytes each:
// models/activations.ts; forced for the SD VAE, whose config says force_upcast: true).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { arenaBytes, type ArenaLayout } from '../src/gpu/arena.js';
import { Gpu } from '../src/gpu/gpu.js';
import { cachedUBytes, releaseTransientU } from '../src/kernels/winograd.weights.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import { ParamLoader, type ParamDType } from '../src/models/params.js';

const root = join(import.meta.dirname, '..', '..');
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const sizes = (arg('--sizes') ?? '256,512,1024').split(',').map(Number);
const MiB = 2 ** 20;

/** A checkpoint of zeros with the manifest's names and shapes, every tensor in `dtype`. */
function zeroLoader(file: string, dtype: ParamDType): { p: ParamLoader; config: Record<string, unknown> } {
  const m = JSON.parse(readFileSync(join(root, 'test/fixtures/reference/manifests', file), 'utf8'));
  const shapes = new Map<string, number[]>(m.keys.map((k: { key: string; shape: number[] }) => [k.key, k.shape]));
  const bytes = dtype === 'F32' ? 4 : 2;
  const p = ParamLoader.from((n) => {
    const shape = shapes.get(n);
    return shape && { shape, dtype, bytes: () => new Uint8Array(shape.reduce((a, b) => a * b, 1) * bytes) };
  }, shapes.keys(), file);
  return { p, config: m.config };
}

export interface MemoryRow {
  run: string;
  /** The activation arena's bytes (MiB) and the run's live activation peak it packs (its lower bound). */
  arenaMiB: number;
  arenaLivePeakMiB: number;
  /** The largest activations live at that peak: [label, MiB]. */
  atPeak: [string, number][];
  weightsMiB: number;
  cachedUMiB: number;
  peakMiB: number;
  heldMiB: number;
}

/** Plans every run of the table on a dry-run Gpu. */
export async function planMemory(runSizes: number[]): Promise<{ adapter: string; rows: MemoryRow[] }> {
  const gpu = await Gpu.create({ dryRun: true });
  const rows: MemoryRow[] = [];
  const plan = (run: string, weightsBytes: number, f: () => void) => {
    gpu.pool.trim(); // each row starts from the weights alone
    gpu.pool.resetPeak();
    gpu.lastLayout = undefined;
    f();
    const { peakInUseBytes: peak, peakAllocatedBytes: held } = gpu.pool.getStats();
    const layout = gpu.lastLayout as ArenaLayout | undefined;
    const top = layout ? layout.trace.peakAt().live.sort((a, b) => layout.trace.sizes[b] - layout.trace.sizes[a]).slice(0, 6) : [];
    rows.push({
      run,
      weightsMiB: weightsBytes / MiB,
      cachedUMiB: cachedUBytes(gpu) / MiB,
      peakMiB: peak / MiB,
      heldMiB: held / MiB,
      arenaMiB: layout ? arenaBytes(layout) / MiB : 0,
      arenaLivePeakMiB: layout ? layout.livePeak / MiB : 0,
      atPeak: top.map((id) => [layout!.trace.labels[id], layout!.trace.sizes[id] / MiB]),
    });
  };
  // Each row loads the model afresh: what it caches (Winograd U) depends on the sizes it has run.
  const fresh = <M extends { release(): void }>(make: () => M, run: (m: M, weights: number) => void) => {
    const m = make();
    run(m, gpu.pool.getStats().inUseBytes);
    m.release();
    releaseTransientU(gpu);
  };
  try {
    for (const dtype of ['F32', 'F16'] as const) {
      const { config } = zeroLoader('sd-vae-ft-mse.json', dtype);
      const make = () => new AutoencoderKL(gpu, zeroLoader('sd-vae-ft-mse.json', dtype).p, parseAutoencoderKLConfig(config, 'manifest'));
      for (const s of runSizes) {
        fresh(make, (vae, weights) => {
          const z = gpu.empty([1, s / 8, s / 8, 4], 'latent');
          plan(`SD VAE decode -> ${s}x${s}, ${dtype} weights`, weights, () => vae.decode(z).release());
          z.release();
        });
        fresh(make, (vae, weights) => {
          const x = gpu.empty([1, s, s, 3], 'image');
          plan(`SD VAE encode ${s}x${s}, ${dtype} weights`, weights, () => vae.encode(x).release());
          x.release();
        });
      }
      if (dtype === 'F16')
        for (const s of runSizes)
          fresh(make, (vae, weights) => {
            vae.setActivations('f16', { force: true });
            const z = gpu.empty([1, s / 8, s / 8, 4], 'latent');
            plan(`SD VAE decode -> ${s}x${s}, ${dtype} weights, f16 activations`, weights, () => vae.decode(z).release());
            z.release();
          });
    }
    for (const dtype of ['F32', 'F16'] as const) {
      const { config } = zeroLoader('consistency-decoder.json', dtype);
      const make = () => new ConsistencyDecoder(gpu, zeroLoader('consistency-decoder.json', dtype).p, parseConsistencyConfig(config, 'manifest'));
      for (const s of runSizes) {
        fresh(make, (cd, weights) => {
          const z = gpu.empty([1, s / 8, s / 8, 4], 'latent');
          const noise = [new Float32Array(3 * s * s), new Float32Array(3 * s * s)];
          plan(`consistency decode (2 steps) -> ${s}x${s}, ${dtype} weights`, weights, () => cd.decode(z, { noise }).release());
          z.release();
        });
      }
      if (dtype === 'F16')
        for (const s of runSizes)
          fresh(make, (cd, weights) => {
            cd.setActivations('f16');
            const z = gpu.empty([1, s / 8, s / 8, 4], 'latent');
            const noise = [new Float32Array(3 * s * s), new Float32Array(3 * s * s)];
            plan(`consistency decode (2 steps) -> ${s}x${s}, ${dtype} weights, f16 activations`, weights, () => cd.decode(z, { noise }).release());
            z.release();
          });
    }
  } finally {
    gpu.destroy();
  }
  return { adapter: gpu.adapterName, rows };
}

if (process.argv[1]?.endsWith('memory.js')) {
  const { adapter, rows } = await planMemory(sizes);
  console.log(`adapter: ${adapter} (dry run: planned, not executed); ${new Date().toISOString()}`);
  console.log('\n| run | weights MiB | cached Winograd U MiB | peak live MiB | held MiB | arena MiB (live activation peak) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  const f = (v: number) => v.toFixed(0);
  for (const r of rows) console.log(`| ${r.run} | ${f(r.weightsMiB)} | ${f(r.cachedUMiB)} | ${f(r.peakMiB)} | ${f(r.heldMiB)} | ${f(r.arenaMiB)} (${f(r.arenaLivePeakMiB)}) |`);
  if (process.argv.includes('--peak')) {
    console.log('\nThe largest activations live at each run\'s activation peak (MiB):');
    for (const r of rows) console.log(`- ${r.run}: ${r.atPeak.map(([l, m]) => `${l} ${m.toFixed(0)}`).join(', ')}`);
  }
}
