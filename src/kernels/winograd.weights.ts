// Winograd's transformed weight U = G g Gᵀ, and where it lives.
//
// U is (tile + 2)^2 / 9 times the weight: 4x for F(4x4, 3x3), 1.78x for F(2x2, 3x3), in f32 texels.
// Keeping a U beside every 3x3 weight is what made the consistency decoder need ~9 GiB more than its
// weights. So each weight's U is either
//
//   cached     made once, kept with the weight (Conv2dWeight.winograd); the direct weight is then
//              released when the variant was chosen automatically, since nothing else reads it
//              ("never hold both copies unless both are used");
//   transient  made again at every use, into one shared texture per Gpu and tile size that grows to
//              the largest weight: no memory per layer, at the cost of the transform on every call.
//
// Which one is a memory-for-speed trade per layer. The transform (through a staging buffer and a copy,
// see transform below) takes ~10 ms of GPU time for a 512x512-channel weight, plus its copy, against
// ~90 ms for that layer's Winograd convolution at 32x32 on lavapipe, proportionally less at larger
// sizes (docs/benchmarks.md), so `winogradPolicy.cache = 'auto'` caches U only for layers
// of at most `cacheMaxPixels` output pixels per image (default 32x32), and only while the cached U of
// this Gpu stay within `cacheBytes` (512 MiB); every other layer transforms on the fly. So large
// images, whose low-resolution layers are few and cheap next to
// the rest, cache nothing: the SD VAE decode of a 512x512 image holds no U at all. 'all' caches every U (the fastest),
// 'none' none (the smallest). Every U, cached or transient, is a Gpu.texture: the pool's statistics,
// dry-run plans and `bench:memory` count it.
//
// U is stored rgba32float, or rgba16float (`u16`): half the bytes, at the cost of rounding U to 11
// significant bits (measured against the reference in docs/benchmarks.md). The GEMM reads either with
// textureLoad as f32.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { packParams } from '../gpu/wgsl.js';
import type { Conv2dWeight } from './conv2d.js';
import { releaseSharedTextures, sharedTexture, standInTexture, standInViewsOf, textureBinding } from './shared_textures.js';
import { TRANSFORM_WG, winogradWeightPipeline } from './winograd.transforms.js';
import { winograd4WeightPipeline } from './winograd4.transforms.js';

/** Output tile size: 2 = F(2x2, 3x3), 4 = F(4x4, 3x3). */
export type WinogradTile = 2 | 4;
/** Positions (GEMMs) per tile: (tile + 2)^2. */
export const positions = (tile: WinogradTile) => (tile + 2) ** 2;

export type UFormat = 'rgba32float' | 'rgba16float';

export const winogradPolicy: {
  cache: 'auto' | 'all' | 'none';
  /** 'auto': cache U of layers with at most this many output pixels per image. */
  cacheMaxPixels: number;
  /** 'auto': at most this many bytes of cached U per Gpu. */
  cacheBytes: number;
  /** Store U as rgba16float. */
  u16: boolean;
} = { cache: 'auto', cacheMaxPixels: 32 * 32, cacheBytes: 512 * 2 ** 20, u16: false };

const up = (v: number, m: number) => Math.ceil(v / m) * m;
const texelBytes = (f: UFormat) => (f === 'rgba32float' ? 16 : 8);

/** U's texture size: [Np / 4 texels, Kp rows, P layers]. */
function uSize(k: Conv2dWeight, tile: WinogradTile): [number, number, number] {
  return [up(k.cout, 32) / 4, up(k.cin, 32), positions(tile)];
}

interface GpuState {
  cachedBytes: number;
  /** The transforms' shared staging buffer (see transform), grown to the largest slab so far. */
  staging?: Tensor;
}
const states = new WeakMap<Gpu, GpuState>();
const state = (gpu: Gpu): GpuState => {
  let s = states.get(gpu);
  if (!s) states.set(gpu, (s = { cachedBytes: 0 }));
  return s;
};

/** Bytes of U cached with weights on this Gpu. */
export const cachedUBytes = (gpu: Gpu) => state(gpu).cachedBytes;

/**
 * The U a convolution of `k` uses now, with `pixels` output pixels per image. `auto`: the variant was
 * chosen by policy, not forced (only then may the direct weight be released).
 */
export function winogradU(gpu: Gpu, k: Conv2dWeight, tile: WinogradTile, pixels: number, auto: boolean): GPUTexture {
  if (k.winograd?.tile === tile) return k.winograd.u;
  if (k.winograd) releaseU(k); // the other tile size's U (a test forcing variants): replace it
  const format: UFormat = winogradPolicy.u16 ? 'rgba16float' : 'rgba32float';
  const size = uSize(k, tile);
  const max = gpu.device.limits.maxTextureDimension2D;
  if (size[0] > max || size[1] > max) throw new Error(`winograd: a ${k.cin} -> ${k.cout} weight needs a ${size[0]} x ${size[1]} texture, above maxTextureDimension2D ${max}`);
  const bytes = size[0] * size[1] * size[2] * texelBytes(format);
  const s = state(gpu);
  const p = winogradPolicy;
  // A plan counts the U it has cached so far as the real run will have (its cache fills as it goes).
  const cachedSoFar = s.cachedBytes + (gpu.isPlanning ? plannedCachedBytes(gpu) : 0);
  const cache = p.cache === 'all' || (p.cache === 'auto' && pixels <= p.cacheMaxPixels && cachedSoFar + bytes <= p.cacheBytes);
  if (gpu.isPlanning) {
    // A U this plan already cached (an earlier evaluation of the same layer): the real run reuses it.
    const made = plannedCache(gpu).get(k);
    if (made?.tile === tile) return made.u;
    const buffer = plannedStaging(gpu, staging(k, tile, format).bytes); // the real run transforms through it
    const u = plannedU(gpu, k, tile, format, size, cache, auto, bytes);
    if (cache) plannedCache(gpu).set(k, { u, tile, bytes });
    transform(gpu, k, tile, u, buffer); // records nothing: the plan notes its pipeline (gpu/ahead.ts)
    return u;
  }
  if (!cache) {
    const u = transientTexture(gpu, tile, format, size);
    transform(gpu, k, tile, u, stagingBuffer(gpu, staging(k, tile, format).bytes));
    return u;
  }
  return cacheU(gpu, k, tile, format, size, bytes, auto);
}

/**
 * Makes k's cached U (texture, its `views`, transform) and frees the direct weight if that goes
 * (`auto`): called as the run reaches the layer, or ahead of the run (gpu/ahead.ts).
 */
function cacheU(gpu: Gpu, k: Conv2dWeight, tile: WinogradTile, format: UFormat, size: [number, number, number], bytes: number, auto: boolean, views: Iterable<GPUTextureViewDimension> = []): GPUTexture {
  const u = gpu.texture({ label: `${k.w.label}.winograd`, size, format, usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST }, texelBytes(format));
  for (const d of views) textureBinding(u, d); // before recording its transform: the queue may be idle still
  transform(gpu, k, tile, u, stagingBuffer(gpu, staging(k, tile, format).bytes));
  k.winograd = { u, gpu, tile, bytes };
  state(gpu).cachedBytes += bytes;
  if (auto) k.releaseDirect(); // recorded after the transform that reads it, so it is safe to reuse
  return u;
}

/** Frees a weight's cached U. */
export function releaseU(k: Conv2dWeight): void {
  if (!k.winograd) return;
  const { gpu, u, bytes } = k.winograd;
  if (k.directReleased) throw new Error(`${k.w.label}: only its Winograd form is kept; it cannot be recomputed for another tile size`);
  gpu.destroyTexture(u);
  state(gpu).cachedBytes -= bytes;
  k.winograd = null;
}

/** Frees the shared textures (transient U, V: shared_textures.ts) and the transforms' staging buffer (Gpu teardown, budgets, tests). */
export function releaseTransientU(gpu: Gpu): void {
  releaseSharedTextures(gpu);
  const s = state(gpu);
  s.staging?.destroy();
  s.staging = undefined;
}

/** The shared texture for transient U of this tile size and format, grown to at least `size`. */
const transientTexture = (gpu: Gpu, tile: WinogradTile, format: UFormat, size: [number, number, number]): GPUTexture =>
  sharedTexture(gpu, `U${tile}.${format}`, `winograd F(${tile}x${tile},3x3) transient U`, format, texelBytes(format), size);

/**
 * The U texture a plan (Gpu.plan) counts, without touching the weight or the shared textures: a
 * cached U lives until the plan ends; transient ones are the shared texture as the plan sees it.
 * A cached U is announced to the plan (Gpu.ahead): its first real run may make it before its first op.
 */
function plannedU(gpu: Gpu, k: Conv2dWeight, tile: WinogradTile, format: UFormat, size: [number, number, number], cache: boolean, auto: boolean, bytes: number): GPUTexture {
  if (!cache) return transientTexture(gpu, tile, format, size); // counted in the plan (shared_textures.ts)
  // A real run destroys the direct weight here (conv2d.ts, releaseDirect): count it out.
  const freed = auto && !k.directReleased ? k.w.block.size : 0;
  const usage = GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST;
  const standIn: { t?: GPUTexture } = {}; // announced before it is counted: the event starts a segment
  gpu.ahead(bytes - freed, () => {
    if (k.winograd) return; // made meanwhile (the plan's layer twice)
    cacheU(gpu, k, tile, format, size, bytes, auto, standInViewsOf(standIn.t!)); // frees the weight, as the plan counted
  });
  if (freed) gpu.pool.planAdjust(-freed);
  return (standIn.t = standInTexture(gpu, { label: 'planned winograd U', size, format, usage }, texelBytes(format)));
}

/** Bytes of U the current plan has cached so far. */
function plannedCachedBytes(gpu: Gpu): number {
  let n = 0;
  for (const { bytes } of plannedCaches.get(gpu)?.values() ?? []) n += bytes;
  return n;
}

/** The U the current plan has cached, by weight (dropped when the plan ends). */
function plannedCache(gpu: Gpu): Map<Conv2dWeight, { u: GPUTexture; tile: WinogradTile; bytes: number }> {
  let m = plannedCaches.get(gpu);
  if (!m) {
    plannedCaches.set(gpu, (m = new Map()));
    gpu.onPlanEnd(() => plannedCaches.delete(gpu));
  }
  return m;
}
const plannedCaches = new WeakMap<Gpu, Map<Conv2dWeight, { u: GPUTexture; tile: WinogradTile; bytes: number }>>();

/** Most bytes of the staging buffer one transform dispatch writes (a slab of input channels). */
const STAGING_BYTES = 4 * 2 ** 20;

/** The slabs of k's transform: `rows` input channels of every position, rows of `stride` texels. */
function staging(k: Conv2dWeight, tile: WinogradTile, format: UFormat): { stride: number; rows: number; bytes: number } {
  const [np4, kp, P] = uSize(k, tile);
  const texel = texelBytes(format);
  const stride = up(np4, 256 / texel);
  const rows = Math.max(1, Math.min(kp, Math.floor(STAGING_BYTES / (P * stride * texel))));
  return { stride, rows, bytes: P * rows * stride * texel };
}

/**
 * The Gpu's staging buffer, grown to at least `bytes`. One buffer for every transform (not an
 * activation: a buffer per transform in the arena would make a run whose U are all cached leave
 * the plan of one that made them), held until releaseTransientU, counted in the pool.
 */
function stagingBuffer(gpu: Gpu, bytes: number): Tensor {
  const s = state(gpu);
  if (s.staging && s.staging.byteLength >= bytes) return s.staging;
  gpu.flush(); // the transforms recorded so far still write the old one
  s.staging?.destroy();
  return (s.staging = gpu.empty([bytes / 4], 'winograd U staging', 'f32', true));
}

/**
 * What stagingBuffer would allocate, counted in the current plan (and dropped when it ends), and the
 * buffer a planned transform binds. Each growth is announced to the plan (Gpu.ahead): the first real
 * run may grow the staging buffer to the plan's largest before its first op.
 */
function plannedStaging(gpu: Gpu, bytes: number): Tensor {
  const real = state(gpu).staging;
  let local = plannedStagings.get(gpu);
  const have = local?.t ?? real;
  if (have && have.byteLength >= bytes) return have;
  if (!local) {
    plannedStagings.set(gpu, (local = { t: undefined }));
    gpu.onPlanEnd(() => plannedStagings.delete(gpu));
  }
  const largest = local; // at the act: the plan's largest
  gpu.ahead(bytes - (have?.block.size ?? 0), () => void stagingBuffer(gpu, largest.t!.byteLength));
  if (have) gpu.pool.planAdjust(-have.block.size); // the real run destroys the one it outgrows
  const t = gpu.empty([bytes / 4], 'planned winograd U staging', 'f32', true);
  gpu.onPlanEnd(() => t.release());
  local.t = t;
  return t;
}
const plannedStagings = new WeakMap<Gpu, { t: Tensor | undefined }>();

/**
 * Records U = G g Gᵀ of k into u: per slab of input-channel rows (at most STAGING_BYTES of texels), a
 * dispatch writes the slab of every position into a staging buffer (one invocation per input channel
 * and 4 output channels), then a copy puts it into the texture's rows. Rows of the staging buffer are
 * padded to 256 bytes, as buffer-to-texture copies require.
 */
function transform(gpu: Gpu, k: Conv2dWeight, tile: WinogradTile, u: GPUTexture, buffer: Tensor): void {
  const [np4, kp, P] = uSize(k, tile);
  const format = u.format as UFormat;
  const bytes = texelBytes(format);
  const pipeline = tile === 2 ? winogradWeightPipeline(gpu, k.format, k.cout, format) : winograd4WeightPipeline(gpu, k.format, k.cout, format);
  const label = `winograd weight transform [${k.cout}, ${k.cin}, 3, 3] F(${tile}x${tile},3x3)`;
  const { stride, rows } = staging(k, tile, format);
  for (let c0 = 0; c0 < kp; c0 += rows) {
    const n = Math.min(rows, kp - c0);
    gpu.op(label, (pass) => {
      gpu.dispatch(pass, pipeline, packParams([k.cin, k.cout, kp, np4 * 4, c0, n, stride]), [gpu.bindWhole(k.w), gpu.bindWhole(buffer)], Math.ceil((n * np4) / TRANSFORM_WG));
    });
    gpu.copyToTexture(label, { buffer: buffer.buffer, offset: buffer.offset, bytesPerRow: stride * bytes, rowsPerImage: n }, { texture: u, origin: [0, c0, 0] }, [np4, n, P]);
  }
}

export { textureBinding } from './shared_textures.js'; // where the Winograd code has long imported it from
