// The tiled consistency decode (approximate): one tile equals the untiled decode bit for bit; every
// tile's UNet input is cut from the full-size state, whose noise is the untiled decode's full-size draw
// at any tile size; several tiles stay within the measured bound of the untiled decode; bad options
// are refused by name. Latents: the tiny consistency model's own encoding of a test image.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../../src/check/compare.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { centerCrop, fromTensorData, resize, toTensorData } from '../../src/io/image.js';
import { readPng } from '../../src/io/png.js';
import { psnr } from '../../src/metrics/psnr.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { winogradPolicy } from '../../src/kernels/winograd.weights.js';
import { planTiledConsistencyStep, planTiles, rampWeights, resolveTileOptions, tiledConsistencyDecode, tileStarts, type TiledConsistencyOptions } from '../../src/models/tiled_consistency.js';
import { TorchGenerator } from '../../src/models/torch_rng.js';
import { FIXTURES, useGpu } from '../helpers.js';
import { TOL } from '../tolerances.js';

const gpu = useGpu();
const IMG = join(import.meta.dirname, '../fixtures/images/gt1.png');
let cd: ConsistencyDecoder;

beforeAll(async () => {
  cd = await ConsistencyDecoder.load(gpu(), join(FIXTURES, 'models/tiny-consistency'));
});

/** The model's own latent of gt1.png at W x H pixels: [1, H/8, W/8, 4]. */
function encodeImage(W: number, H: number): Tensor {
  const img = resize(centerCrop(readPng(IMG).image), W, H);
  const x = gpu().upload(toTensorData(img), [1, H, W, 3]);
  const d = cd.encode(x);
  x.release();
  d.logvar.release();
  d.std.release();
  return d.mean;
}

async function readAndRelease(t: Tensor): Promise<Float32Array> {
  const data = await t.read();
  t.release();
  return data;
}

async function tapsOf(run: (taps: Map<string, Tensor>) => Promise<Tensor> | Tensor): Promise<Map<string, Float32Array>> {
  const taps = new Map<string, Tensor>();
  (await run(taps)).release();
  const out = new Map<string, Float32Array>();
  for (const [k, t] of taps) out.set(k, await readAndRelease(t));
  return out;
}

/** rows [y0, y0+h) and columns [x0, x0+w) of an NHWC [H, W, C] image. */
function crop(data: Float32Array, W: number, C: number, y0: number, x0: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w * C);
  for (let y = 0; y < h; y++) out.set(data.subarray(((y0 + y) * W + x0) * C, ((y0 + y) * W + x0 + w) * C), y * w * C);
  return out;
}

describe('tile layout', () => {
  it('tiles cover the axis, the last one flush with the end; ramps of neighbours sum to 1', () => {
    expect(tileStarts(12, 64, 16)).toEqual([0]);
    expect(tileStarts(20, 8, 2)).toEqual([0, 6, 12]);
    expect(tileStarts(21, 8, 2)).toEqual([0, 6, 12, 13]);
    expect(tileStarts(12, 6, 2)).toEqual([0, 4, 6]);
    // Axis of 160 px in tiles of 64 px overlapping by 16 px (starts 0, 48, 96): weights sum to 1 everywhere.
    const sum = new Float64Array(160);
    for (const s of tileStarts(20, 8, 2)) rampWeights(s * 8, 64, 160, 16).forEach((w, d) => (sum[s * 8 + d] += w));
    for (const v of sum) expect(v).toBeCloseTo(1, 12);
    expect([...rampWeights(0, 64, 64, 16)].every((w) => w === 1)).toBe(true); // one tile: weight 1, no ramp
    const tiles = planTiles(12, 8, 8, 6, 2);
    expect(tiles.map((t) => [t.y0, t.x0, t.h, t.w])).toEqual([0, 32, 48].flatMap((y) => [0, 16].map((x) => [y, x, 48, 48])));
  });
});

describe('tiledConsistencyDecode', () => {
  it('a tile that covers the whole image equals the untiled decode bit for bit', async () => {
    for (const [W, H, opts] of [
      [96, 64, { seed: 3 }],
      [64, 64, { seed: 0, steps: 1, clamp: true }],
    ] as [number, number, TiledConsistencyOptions][]) {
      const z = encodeImage(W, H);
      const full = await readAndRelease(cd.decode(z, opts));
      expect(await readAndRelease(await tiledConsistencyDecode(cd, z, { ...opts, tileSize: W / 8, overlap: 2 }))).toEqual(full);
      expect(await readAndRelease(await tiledConsistencyDecode(cd, z, opts))).toEqual(full); // the default 64-latent tile
      z.release();
    }
    // A checkpoint whose sampler clamps by default (OpenAI's decoder.pt) clamps in the tiled decode too.
    const z = encodeImage(64, 64);
    const clamped = await readAndRelease(cd.decode(z, { seed: 2, steps: 1, clamp: true }));
    cd.config.default_clamp = true;
    try {
      expect(await readAndRelease(await tiledConsistencyDecode(cd, z, { seed: 2, steps: 1 }))).toEqual(clamped);
    } finally {
      cd.config.default_clamp = undefined;
    }
    expect(await readAndRelease(await tiledConsistencyDecode(cd, z, { seed: 2, steps: 1 }))).not.toEqual(clamped);
    z.release();
  });

  it('the noise is the untiled decode\'s full-size draw at any tile size; each tile\'s input is cut from the full-size state', async () => {
    const z = encodeImage(96, 96);
    const untiled = await tapsOf((taps) => cd.decode(z, { seed: 7, ctx: { gpu: gpu(), taps } }));
    const cIn1 = Math.fround(cd.schedule.cIn[512]);
    for (const [tileSize, overlap] of [[8, 2], [6, 3]]) {
      const taps = await tapsOf((taps) => tiledConsistencyDecode(cd, z, { seed: 7, tileSize, overlap, ctx: { gpu: gpu(), taps } }));
      expect(taps.get('x_t_0')).toEqual(untiled.get('x_t_0')); // √(1−ᾱ)·ε0, ε0 the full-size draw
      const tiles = planTiles(12, 12, 8, tileSize, overlap);
      tiles.forEach((t, k) => {
        // Step 0: the crop of the untiled UNet input cat([c_in·x_t_0, z']), noise included.
        expect(taps.get(`tiles.${k}.unet_input_0`)).toEqual(crop(untiled.get('unet_input_0')!, 96, 7, t.y0, t.x0, t.h, t.w));
        // Step 1: the crop of c_in·x_t_1 of this decode's own full-size x_t_1 (re-noised with the full-size ε1).
        const xIn = crop(taps.get('x_t_1')!, 96, 3, t.y0, t.x0, t.h, t.w).map((v) => Math.fround(cIn1 * v));
        const input1 = taps.get(`tiles.${k}.unet_input_1`)!;
        expect(input1.filter((_, i) => i % 7 < 3)).toEqual(xIn);
      });
    }
    // A seed draws what TorchGenerator draws for the full image, whatever the tile size.
    const g = new TorchGenerator(7);
    const noise = [g.randn([1, 3, 96, 96]), g.randn([1, 3, 96, 96])];
    const bySeed = await readAndRelease(await tiledConsistencyDecode(cd, z, { seed: 7, tileSize: 6, overlap: 2 }));
    expect(await readAndRelease(await tiledConsistencyDecode(cd, z, { noise, tileSize: 6, overlap: 2 }))).toEqual(bySeed);
    z.release();
  });

  it('several tiles stay within the measured bound of the untiled decode, and blending beats butting tiles', async () => {
    const z = encodeImage(96, 96);
    const image = (d: Float32Array) => fromTensorData(d, 96, 96);
    const full = await readAndRelease(cd.decode(z, { seed: 0 }));
    const otherSeed = await readAndRelease(cd.decode(z, { seed: 1 }));
    const seedPsnr = psnr(image(full), image(otherSeed));
    const bound = TOL.tiledConsistency;
    for (const [tileSize, overlap] of [[8, 2], [6, 2]]) {
      const tiled = await readAndRelease(await tiledConsistencyDecode(cd, z, { seed: 0, tileSize, overlap }));
      const p = psnr(image(full), image(tiled));
      expect(p, `tile ${tileSize} overlap ${overlap}`).toBeGreaterThanOrEqual(bound.minPsnr);
      expect(maxAbsDiff(full, tiled), `tile ${tileSize} overlap ${overlap}`).toBeLessThanOrEqual(bound.maxAbs);
      expect(p).toBeGreaterThan(seedPsnr + bound.psnrAboveOtherSeed); // tiling moves the image far less than a new seed
    }
    const butted = await readAndRelease(await tiledConsistencyDecode(cd, z, { seed: 0, tileSize: 8, overlap: 0 }));
    const blended = await readAndRelease(await tiledConsistencyDecode(cd, z, { seed: 0, tileSize: 8, overlap: 2 }));
    expect(psnr(image(full), image(blended))).toBeGreaterThan(psnr(image(full), image(butted)) + 3);
    z.release();
  });

  it('a memory plan of one step (planTiledConsistencyStep) is what the whole tiled decode holds', async () => {
    const saved = { ...winogradPolicy };
    winogradPolicy.cache = 'none'; // every Winograd U transient: plans and runs hold the same
    const g = gpu();
    const z = encodeImage(96, 64);
    const peaks: number[] = [];
    try {
      for (const opts of [{ tileSize: 6, overlap: 2 }, { tileSize: 64 }, { tileSize: 4, overlap: 1, steps: 3, clamp: true }] as TiledConsistencyOptions[]) {
        g.pool.trim();
        const planned = g.plan(() => planTiledConsistencyStep(cd, z, opts).release());
        g.pool.resetPeak();
        (await tiledConsistencyDecode(cd, z, { ...opts, seed: 0 })).release();
        expect(planned.peakBytes, JSON.stringify(opts)).toBe(g.pool.getStats().peakAllocatedBytes);
        peaks.push(planned.peakBytes);
      }
      expect(peaks[2]).toBeLessThan(peaks[0]); // smaller tiles, less memory
      expect(peaks[0]).toBeLessThan(peaks[1]); // the one 96x64 tile: the untiled decode's memory
    } finally {
      Object.assign(winogradPolicy, saved);
      z.release();
    }
  });

  it('bad options get clear errors naming the option', async () => {
    const z = gpu().upload(new Float32Array(8 * 8 * 4), [1, 8, 8, 4]);
    const run = (opts: TiledConsistencyOptions, latent = z) => tiledConsistencyDecode(cd, latent, opts);
    await expect(run({ tileSize: 0 })).rejects.toThrow(/tileSize must be a positive whole number of latent pixels \(tile sides are multiples of 8 output pixels\), got 0/);
    await expect(run({ tileSize: 2.5 })).rejects.toThrow(/tileSize .* multiples of 8 output pixels\), got 2.5/);
    await expect(run({ tileSize: 4, overlap: 0.5 })).rejects.toThrow(/overlap must be a whole number of latent pixels >= 0 \(multiples of 8 output pixels\), got 0.5/);
    await expect(run({ tileSize: 4, overlap: -1 })).rejects.toThrow(/overlap must be .* got -1/);
    await expect(run({ tileSize: 4, overlap: 4 })).rejects.toThrow(/overlap \(4\) must be smaller than tileSize \(4\)/);
    await expect(run({ tileSize: 2, overlap: 6 })).rejects.toThrow(/overlap \(6\) must be smaller than tileSize \(2\)/);
    await expect(run({ overlap: 64 })).rejects.toThrow(/overlap \(64\) must be smaller than tileSize \(64\)/); // the default tile
    await expect(run({ tileSize: 4, noise: [new Float32Array(3 * 32 * 32), new Float32Array(3 * 32 * 32)] })).rejects.toThrow(/noise 0 has 3072 values, expected \[1,3,64,64\]/); // a tile's noise is not enough
    await expect(run({ tileSize: 4, seed: 1, noise: [] })).rejects.toThrow(/either noise or seed/);
    await expect(run({ steps: 0 })).rejects.toThrow(/steps must be an integer from 1 to 64/);
    const batch = gpu().upload(new Float32Array(2 * 8 * 8 * 4), [2, 8, 8, 4]);
    await expect(run({}, batch)).rejects.toThrow(/tiled consistency decode: one latent at a time \(got a batch of 2\)/);
    const threeChannels = gpu().upload(new Float32Array(8 * 8 * 3), [1, 8, 8, 3]);
    await expect(run({}, threeChannels)).rejects.toThrow(/tiled consistency decode: latent \[1,8,8,3\] \(NHWC\) must have 4 channels/);
    for (const t of [z, batch, threeChannels]) t.release();
    // A UNet that downsamples more than the latent upsampling (16 > 8) cannot be tiled on latent pixels.
    const deep = { downscale: 8, config: { unet: { block_out_channels: [32, 32, 32, 32, 32] } } } as unknown as ConsistencyDecoder;
    expect(() => resolveTileOptions(deep, { tileSize: 8 })).toThrow(/this UNet downsamples by 16, more than the latent factor 8/);
    expect(resolveTileOptions(cd, {})).toEqual({ tileSize: 64, overlap: 16 });
    expect(resolveTileOptions(cd, { tileSize: 10 })).toEqual({ tileSize: 10, overlap: 2 });
  });
});
