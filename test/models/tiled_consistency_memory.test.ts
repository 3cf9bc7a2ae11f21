// The tiled consistency decode's planned GPU memory (a dry run of the full-size decoder, manifest shapes,
// zero weights, as bench/memory.ts): the peak is set by the tile, not the image. Doubling the image side
// at the same tile adds only the full-size 3-channel state tensors.
//
// Each plan is measured from what the device holds before it (weights, and the Winograd transforms the
// default policy caches on a layer's first use at a small resolution; kernels/winograd.weights.ts). A
// warm-up decode at the tile's resolution fills that cache first, so every plan starts from the same state.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu } from '../../src/gpu/gpu.js';
import { sizeClass } from '../../src/gpu/pool.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../../src/models/consistency_decoder.js';
import { f32Entry, ParamLoader } from '../../src/models/params.js';
import { tiledConsistencyDecode } from '../../src/models/tiled_consistency.js';
import { FIXTURES } from '../helpers.js';

let gpu: Gpu;
let cd: ConsistencyDecoder;

beforeAll(async () => {
  gpu = await Gpu.create({ dryRun: true });
  const m = JSON.parse(readFileSync(join(FIXTURES, 'manifests/consistency-decoder.json'), 'utf8'));
  const shapes = new Map<string, number[]>(m.keys.map((k: { key: string; shape: number[] }) => [k.key, k.shape]));
  const p = ParamLoader.from((n) => {
    const shape = shapes.get(n);
    return shape && f32Entry(shape, () => new Float32Array(shape.reduce((a, b) => a * b, 1)));
  }, shapes.keys(), 'consistency-decoder manifest');
  cd = new ConsistencyDecoder(gpu, p, parseConsistencyConfig(m.config, 'manifest'));
  await planActivations(256); // warm-up: fills the Winograd cache
});
afterAll(() => {
  cd?.release();
  gpu?.destroy();
});

/** Planned peak of live GPU bytes beyond what is held before (weights, cached transforms), for an s x s image. */
async function planActivations(s: number, tiled?: { tileSize: number; overlap: number }): Promise<number> {
  gpu.pool.trim();
  gpu.pool.resetPeak();
  const before = gpu.pool.getStats().inUseBytes;
  const z = gpu.empty([1, s / 8, s / 8, 4], 'latent');
  const noise = [new Float32Array(3 * s * s), new Float32Array(3 * s * s)];
  const y = tiled ? await tiledConsistencyDecode(cd, z, { noise, ...tiled }) : cd.decode(z, { noise });
  y.release();
  z.release();
  return gpu.pool.getStats().peakInUseBytes - before;
}

describe('tiled consistency decode, planned memory (full-size model, dry run)', () => {
  it('the peak is set by the tile: a 2x larger image adds only its full-size 3-channel state', async () => {
    const tile = { tileSize: 32, overlap: 8 }; // 256x256-pixel tiles
    const untiled256 = await planActivations(256);
    const untiled512 = await planActivations(512);
    const tiled512 = await planActivations(512, tile);
    const tiled1024 = await planActivations(1024, tile);
    // Besides one tile's UNet, at most these full-size tensors are live: x, the blended UNet output,
    // the next step's noise and the re-noised x (3 channels each), and the latent z' (4 channels).
    const state = (s: number) => 4 * sizeClass(s * s * 3 * 4) + sizeClass(s * s * 4 * 4);
    expect(tiled1024).toBeGreaterThanOrEqual(tiled512);
    expect(tiled1024 - tiled512).toBeLessThanOrEqual(state(1024));
    expect(tiled1024).toBeLessThan(tiled512 * 1.03); // within a few percent
    // A tile's plan is an untiled 256x256 decode's plus the state; far below the untiled 512x512 decode.
    expect(tiled512).toBeLessThanOrEqual(untiled256 + state(512));
    expect(tiled1024 * 3).toBeLessThan(untiled512);
  });
});
