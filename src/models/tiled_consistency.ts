// Tiled consistency decoding: OFF by default and APPROXIMATE. For images whose full-resolution UNet
// does not fit in memory (diffusers has no tiled consistency decode).
//
// The consistency decoder's UNet runs at full image resolution on cat([c_in·x, z']) (7 channels). The
// sampler (consistency_decoder.ts) is kept whole; only the UNet call of every step is tiled:
//
//   z' = nearest_8(normalized latent), x = √(1−ᾱ[t0])·ε0                    full size, as untiled
//   for each step t:
//     for each tile k (overlapping windows of the image):
//       out_k = UNet(cat([c_in·x, z'])[window k], t)[:, :3]                    tile size
//     out = Σ_k w_k·out_k / Σ_k w_k         (w_k: 1 inside, a linear ramp over the overlap)
//     x0  = c_out·out + c_skip·x; x = √ᾱ[next]·x0 + √(1−ᾱ[next])·ε_i            full size, as untiled
//
// Blending the UNet outputs and forming x0 once equals blending the tiles' x0: x0 is affine in out
// with the same x for every tile and the weights sum to 1. The noise ε of every step is ONE full-size
// draw of the torch-compatible generator, exactly as the untiled decode draws it, and each tile's input
// is cut from the full-size state that contains it: a seed gives the same noise at any tile size, and
// a tile that covers the image gives the untiled decode bit for bit.
//
// Tiles are cut on latent-pixel boundaries (tileSize and overlap count latent pixels of 8 output
// pixels): then a tile's z' is exactly the upsampling of its latent window, and a tile's sides and
// offsets are multiples of the UNet's total downsampling (2^(levels−1) = 8 for the real model), so its
// 2x2 pools and 2x upsamples see the same pixel pairs as the untiled UNet. What differs is each tile's
// GroupNorm statistics and the zero padding at its inner edges, where the ramp gives it least weight.
//
// Memory: only the UNet runs per tile, so the GPU peak is that of a tileSize·8-pixel decode plus a few
// full-size 3-channel tensors (x, the blended output, the noise of one step). Tiles are cut and
// blended on the CPU: z' is read back once, c_in·x once per step and each tile's output once (each
// tile waits for the GPU); the blended output is uploaded for the full-size sampler update.

import type { Tensor } from '../gpu/tensor.js';
import { scale } from '../kernels/elementwise.js';
import type { ConsistencyDecodeOptions, ConsistencyDecoder } from './consistency_decoder.js';
import { emit, type RunContext } from './context.js';
import { plannedRun } from './planned.js';

export interface TiledConsistencyOptions extends ConsistencyDecodeOptions {
  /** Tile side in latent pixels (8 output pixels each); default 64 (512x512-pixel tiles). */
  tileSize?: number;
  /** Latent pixels that neighbouring tiles share, blended with a linear ramp; default ⌊tileSize / 4⌋ (16). */
  overlap?: number;
  /** Called as each tile's UNet call is recorded. */
  onTile?: (step: number, tile: number, tiles: number) => void;
}

/** The default tile: 64 latent pixels (512x512 output pixels); the default overlap is a quarter of the tile. */
export const TILED_CONSISTENCY_DEFAULT_TILE = 64;

/** One tile: an output-pixel window and its blend weight along each axis. */
export interface Tile {
  y0: number;
  x0: number;
  h: number;
  w: number;
  wy: Float64Array;
  wx: Float64Array;
}

/** Tile starts along one axis of `length` latent pixels: every `tileSize − overlap`, the last one flush with the end. */
export function tileStarts(length: number, tileSize: number, overlap: number): number[] {
  if (length <= tileSize) return [0];
  const starts: number[] = [];
  for (let s = 0; ; s += tileSize - overlap) {
    if (s + tileSize >= length) return starts.concat(length - tileSize);
    starts.push(s);
  }
}

/**
 * Blend weights of a window [start, start + len) of an axis of `length` pixels: 1, except a linear ramp
 * over `ramp` pixels at each side that has a neighbour ((d + 0.5) / ramp at distance d from the edge).
 * Two neighbours' ramps over an overlap of exactly `ramp` pixels sum to 1; the blend divides by the
 * sum anyway, which covers the wider overlap of a last tile moved flush with the image edge.
 */
export function rampWeights(start: number, len: number, length: number, ramp: number): Float64Array {
  const w = new Float64Array(len).fill(1);
  if (ramp <= 0) return w;
  for (let d = 0; d < len; d++) {
    if (start > 0) w[d] = Math.min(w[d], (d + 0.5) / ramp);
    if (start + len < length) w[d] = Math.min(w[d], (len - d - 0.5) / ramp);
  }
  return w;
}

/** Checks the tile options against the model and the latent; returns tileSize and overlap in latent pixels. */
export function resolveTileOptions(cd: ConsistencyDecoder, opts: TiledConsistencyOptions): { tileSize: number; overlap: number } {
  const tileSize = opts.tileSize ?? TILED_CONSISTENCY_DEFAULT_TILE;
  const overlap = opts.overlap ?? Math.floor(tileSize / 4);
  const f = cd.downscale;
  const what = 'tiled consistency decode';
  if (!Number.isInteger(tileSize) || tileSize < 1)
    throw new Error(`${what}: tileSize must be a positive whole number of latent pixels (tile sides are multiples of ${f} output pixels), got ${tileSize}`);
  if (!Number.isInteger(overlap) || overlap < 0)
    throw new Error(`${what}: overlap must be a whole number of latent pixels >= 0 (multiples of ${f} output pixels), got ${overlap}`);
  if (overlap >= tileSize) throw new Error(`${what}: overlap (${overlap}) must be smaller than tileSize (${tileSize}), in latent pixels`);
  // Tile sides and offsets are multiples of f pixels; the UNet needs them multiples of its own downsampling.
  const unetDown = 2 ** (cd.config.unet.block_out_channels.length - 1);
  if (f % unetDown !== 0)
    throw new Error(`${what}: this UNet downsamples by ${unetDown}, more than the latent factor ${f}; tiles of whole latent pixels cannot align with it`);
  return { tileSize, overlap };
}

/** The tiles of an h x w latent's image (f output pixels per latent pixel), row by row. */
export function planTiles(h: number, w: number, f: number, tileSize: number, overlap: number): Tile[] {
  const [H, W] = [h * f, w * f];
  const tiles: Tile[] = [];
  for (const ty of tileStarts(h, tileSize, overlap))
    for (const tx of tileStarts(w, tileSize, overlap)) {
      const [y0, x0, th, tw] = [ty * f, tx * f, Math.min(tileSize, h) * f, Math.min(tileSize, w) * f];
      tiles.push({ y0, x0, h: th, w: tw, wy: rampWeights(y0, th, H, overlap * f), wx: rampWeights(x0, tw, W, overlap * f) });
    }
  return tiles;
}

/** cat([c_in·x, z'], channels)[window]: [th, tw, 3 + 4] from full-size NHWC [H, W, 3] and [H, W, 4]. */
export function cutTileInput(xIn: Float32Array, z: Float32Array, W: number, tile: Tile): Float32Array {
  const out = new Float32Array(tile.h * tile.w * 7);
  for (let y = 0; y < tile.h; y++)
    for (let x = 0; x < tile.w; x++) {
      const p = (tile.y0 + y) * W + tile.x0 + x;
      const o = (y * tile.w + x) * 7;
      for (let c = 0; c < 3; c++) out[o + c] = xIn[p * 3 + c];
      for (let c = 0; c < 4; c++) out[o + 3 + c] = z[p * 4 + c];
    }
  return out;
}

/** acc += w·out and wsum += w over the tile's window (out: [th, tw, 3]). */
function accumulate(acc: Float64Array, wsum: Float64Array, out: Float32Array, W: number, tile: Tile): void {
  for (let y = 0; y < tile.h; y++)
    for (let x = 0; x < tile.w; x++) {
      const wt = tile.wy[y] * tile.wx[x];
      const p = (tile.y0 + y) * W + tile.x0 + x;
      for (let c = 0; c < 3; c++) acc[p * 3 + c] += wt * out[(y * tile.w + x) * 3 + c];
      wsum[p] += wt;
    }
}

/**
 * latent [1, h, w, 4] (unscaled) -> image [1, h·f, w·f, 3], with the UNet run tile by tile.
 * Taps (`opts.ctx`): `latent_normalized_upsampled`, per step i `x_t_i`, `tiles.k.unet_input_i`,
 * `tiles.k.unet_output_i` (its 3 channels) and `unet_output_blended_i`; no UNet module taps.
 */
/** What the tiled decode and its plan both derive from the latent and the options (checked). */
function tiledSetup(cd: ConsistencyDecoder, latent: Tensor, opts: TiledConsistencyOptions) {
  const [n, h, w] = cd.checkLatent(latent, 'tiled consistency decode');
  if (n !== 1) throw new Error(`tiled consistency decode: one latent at a time (got a batch of ${n})`);
  const { tileSize, overlap } = resolveTileOptions(cd, opts);
  const timesteps = cd.resolveTimesteps(opts);
  const f = cd.downscale;
  const [H, W] = [h * f, w * f];
  const shape: [number, number, number, number] = [1, 3, H, W];
  return { h, w, tileSize, overlap, timesteps, f, H, W, shape };
}

export async function tiledConsistencyDecode(cd: ConsistencyDecoder, latent: Tensor, opts: TiledConsistencyOptions = {}): Promise<Tensor> {
  const gpu = cd.gpu;
  const ctx = opts.ctx ?? { gpu };
  const tileCtx: RunContext = { gpu }; // no module taps inside the tiles' UNet calls
  const { h, w, tileSize, overlap, timesteps, f, H, W, shape } = tiledSetup(cd, latent, opts);
  const noise = cd.drawNoise(opts, timesteps.length, shape); // full size, as the untiled decode draws it
  const tiles = planTiles(h, w, f, tileSize, overlap);
  const s = cd.schedule;

  const zT = cd.prepareLatent(latent, ctx); // [1, H, W, 4]
  const z = await zT.read();
  zT.release();
  let x = cd.initialSample(cd.uploadNoise(noise[0], shape, 0), timesteps[0]); // [1, H, W, 3]
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    opts.onStep?.(i, t, timesteps.length);
    emit(ctx, `x_t_${i}`, x);
    const xInT = scale(gpu, s.cIn[t], x, 'scale_model_input'); // as the untiled decode, so one tile is bit-exact
    const xIn = await xInT.read(); // [1, H, W, 3]
    xInT.release();
    const acc = new Float64Array(H * W * 3);
    const wsum = new Float64Array(H * W);
    for (let k = 0; k < tiles.length; k++) {
      opts.onTile?.(i, k, tiles.length);
      const tile = tiles[k];
      const unetIn = gpu.upload(cutTileInput(xIn, z, W, tile), [1, tile.h, tile.w, 7], 'unet_input_tile');
      emit(ctx, `tiles.${k}.unet_input_${i}`, unetIn);
      const out = denoiseTile(cd, tileCtx, unetIn, t, i); // [1, th, tw, 3]; releases unetIn
      emit(ctx, `tiles.${k}.unet_output_${i}`, out);
      accumulate(acc, wsum, await out.read(), W, tile);
      out.release();
    }
    const blended = new Float32Array(acc.length);
    for (let p = 0; p < wsum.length; p++) for (let c = 0; c < 3; c++) blended[p * 3 + c] = acc[p * 3 + c] / wsum[p];
    const out = gpu.upload(blended, [1, H, W, 3], 'unet_output_blended');
    emit(ctx, `unet_output_blended_${i}`, out);
    const noiseNext = i + 1 < timesteps.length ? cd.uploadNoise(noise[i + 1], shape, i + 1) : undefined;
    x = cd.samplerStep(x, out, i, timesteps, cd.resolveClamp(opts), noiseNext);
  }
  return x;
}

/** One tile's UNet call (releases unetIn), its activations in the planned arena (models/planned.ts). */
function denoiseTile(cd: ConsistencyDecoder, ctx: RunContext, unetIn: Tensor, t: number, i: number): Tensor {
  // denoise releases its input: the plan (which runs first) gets a stand-in of the same kind (exact, as uploaded).
  const input = (standIn: boolean) => (standIn ? cd.gpu.empty(unetIn.shape, 'planned unet_input_tile', unetIn.dtype, true) : unetIn);
  return plannedRun(cd.gpu, cd, `tile denoise [${unetIn.shape}] ${cd.activations}`, (standIn) => cd.denoise(ctx, input(standIn), t, i), (o) => o.release());
}

/**
 * For a memory plan (Gpu.plan, Gpu.checkBudget), which cannot wait for reads: records the GPU
 * allocations of the tiled decode's first step, in the same order and sizes, reading nothing back.
 * Every step allocates the same and every tile is the size of the first, and the first step of two or
 * more also holds the next noise, so this step's peak is the decode's. Returns the step's x to release.
 */
export function planTiledConsistencyStep(cd: ConsistencyDecoder, latent: Tensor, opts: TiledConsistencyOptions = {}): Tensor {
  const gpu = cd.gpu;
  const { h, w, tileSize, overlap, timesteps, f, H, W, shape } = tiledSetup(cd, latent, opts);
  const zeros = new Float32Array(3 * H * W); // stand-in noise and blend: plans record no values
  cd.prepareLatent(latent, { gpu }).release(); // read back at once in the decode
  const x = cd.initialSample(cd.uploadNoise(zeros, shape, 0), timesteps[0]);
  scale(gpu, cd.schedule.cIn[timesteps[0]], x, 'scale_model_input').release(); // read back at once
  const tile = planTiles(h, w, f, tileSize, overlap)[0];
  const unetIn = gpu.upload(new Float32Array(tile.h * tile.w * 7), [1, tile.h, tile.w, 7], 'unet_input_tile');
  const out = denoiseTile(cd, { gpu }, unetIn, timesteps[0], 0); // releases unetIn
  out.release(); // read back at once
  const blended = gpu.upload(zeros, [1, H, W, 3], 'unet_output_blended');
  const noiseNext = timesteps.length > 1 ? cd.uploadNoise(zeros, shape, 1) : undefined;
  return cd.samplerStep(x, blended, 0, timesteps, cd.resolveClamp(opts), noiseNext);
}
