// The main job, as functions the CLI and the examples share: load a model, turn a PNG into a stored
// latent, and a stored latent into a PNG, with either decoder. No Node imports (`loadModel` reaches the
// file loaders through the models' dynamic imports), so the page uses the same encode and decode.
//
//   PNG -> RgbImage -> (crop, resize) -> [1,H,W,3] in [-1,1] -> encode -> mean (or sample) × scaling_factor
//   latent file -> ÷ scaling_factor -> decode (SD VAE decoder, or consistency decoder) -> [-1,1] -> PNG

import type { LoadOptions } from './models/params.js';
import { MemoryBudgetError, type Gpu } from './gpu/gpu.js';
import { convPolicy } from './kernels/conv2d.js';
import { releaseTransientU, winogradPolicy } from './kernels/winograd.weights.js';
import { nchwToNhwc, nhwcToNchw, type Tensor } from './gpu/tensor.js';
import { centerCrop, fromTensorData, resize, toTensorData, type RgbImage } from './io/image.js';
import { assertFinite, checkCompatible, latentSpaceId, type LatentMeta, type StoredLatent } from './io/latents_format.js';
import { AutoencoderKL, type LatentDistribution } from './models/autoencoder_kl.js';
import { ConsistencyDecoder, type ConsistencyDecodeOptions } from './models/consistency_decoder.js';
import { planTiledConsistencyStep, tiledConsistencyDecode, type TiledConsistencyOptions } from './models/tiled_consistency.js';
import { tiledDecode } from './models/tiled_decode.js';
import { AutoencoderTiny } from './models/autoencoder_tiny.js';

export type AnyModel = AutoencoderKL | ConsistencyDecoder;

export interface LoadedModel {
  kind: 'vae' | 'consistency';
  model: AnyModel;
  /** A short name for messages and latent metadata (the folder or file name). */
  name: string;
  latentSpace: string;
}

/** Loading options and how activations are stored (f16 needs shader-f16; `forceF16` overrides force_upcast). */
export interface ModelOptions extends LoadOptions {
  activations?: 'f32' | 'f16';
  forceF16?: boolean;
  /**
   * The shape (NHWC, unscaled latent [1, h, w, 4]) the first decode will have; its plan, arena and
   * pipelines are then made while the weights are read (AutoencoderKL / ConsistencyDecoder.prepareDecode).
   */
  prepareDecode?: readonly number[];
  /** Consistency decoder: the options the first decode will get (steps, clamp, noise: its plan depends on them). */
  prepareDecodeOptions?: ConsistencyDecodeOptions;
}

export async function loadModel(gpu: Gpu, path: string, kind: 'vae' | 'consistency', opts: ModelOptions = {}): Promise<LoadedModel> {
  const shape = opts.prepareDecode;
  // Activations are set before the plan is made: they are part of what it plans. A shape this model cannot
  // decode is not planned: the decode itself then says what is wrong (a speed-up never fails a load).
  const setActivations = (m: AnyModel) => opts.activations && m.setActivations(opts.activations, { force: opts.forceF16 });
  const prepare = <M extends AnyModel>(plan: (m: M, shape: readonly number[]) => Promise<void>) => shape && (async (m: M) => {
    if (shape.length !== 4 || shape[3] !== m.config.latent_channels) return;
    setActivations(m);
    await plan(m, shape);
  });
  const model = kind === 'vae'
    ? await AutoencoderKL.load(gpu, path, opts, prepare<AutoencoderKL>((vae, s) => vae.prepareDecode(s)))
    : await ConsistencyDecoder.load(gpu, path, opts, prepare<ConsistencyDecoder>((cd, s) => cd.prepareDecode(s, opts.prepareDecodeOptions)));
  if (opts.activations) {
    try {
      model.setActivations(opts.activations, { force: opts.forceF16 });
    } catch (e) {
      model.release();
      throw e;
    }
  }
  const channels = kind === 'vae' ? (model as AutoencoderKL).config.latent_channels : (model as ConsistencyDecoder).config.latent_channels;
  return { kind, model, name: `${kind === 'vae' ? 'AutoencoderKL' : 'ConsistencyDecoderVAE'}:${baseName(path)}`, latentSpace: latentSpaceId(channels, model.downscale, model.scalingFactor) };
}

/** The last part of a path (node:path's basename, without importing Node: this file runs in pages too). */
function baseName(path: string): string {
  return path.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? path;
}

/**
 * TAESD (AutoencoderTiny), the fast preview decoder. It reads the stored SD latent as it is (already
 * × 0.18215), so its latent space is the SD VAE's: any latent the SD VAE or the consistency model
 * encoded decodes with it.
 */
export interface LoadedTaesd {
  kind: 'taesd';
  model: AutoencoderTiny;
  name: string;
  latentSpace: string;
}

export async function loadTaesd(gpu: Gpu, path: string, opts: ModelOptions = {}): Promise<LoadedTaesd> {
  if (opts.activations === 'f16') throw new Error(`${path}: AutoencoderTiny (TAESD) has no f16 activation path; it runs in f32`);
  const model = await AutoencoderTiny.load(gpu, path, opts);
  return { kind: 'taesd', model, name: `AutoencoderTiny:${baseName(path)}`, latentSpace: latentSpaceId(model.config.latent_channels, model.downscale, model.sdScalingFactor) };
}

/** stored (scaled) latent -> image with TAESD: no unscaling, TAESD reads the SD latent × 0.18215. */
export async function decodeLatentTaesd(gpu: Gpu, m: LoadedTaesd, latent: StoredLatent, path: string): Promise<RgbImage> {
  checkCompatible(latent, path, m.latentSpace, m.name);
  assertFinite(latent.data, path);
  const [n, c, h, w] = latent.shape;
  if (n !== 1) throw new Error(`${path}: holds ${n} latents; decode writes one PNG, so store one latent per file`);
  // Stored with another scaling factor (only possible without a latent_space entry): rescale to TAESD's.
  const s = latent.meta.scalingFactor === m.model.sdScalingFactor ? null : m.model.sdScalingFactor / latent.meta.scalingFactor;
  const restore = withinBudget(gpu, `decoding ${path} with ${m.name}`, 'taesd', [n, h, w, c], (x) => m.model.decode(x));
  const z = gpu.upload(nchwToNhwc(s === null ? latent.data : latent.data.map((v) => v * s), latent.shape), [n, h, w, c], 'latent');
  let y: Tensor;
  try {
    y = m.model.decode(z);
  } finally {
    restore();
  }
  z.release();
  const data = await y.read();
  const [, H, W] = y.shape;
  y.release();
  return fromTensorData(data, W, H);
}

export interface PrepareOptions {
  /** Crop the largest centred square first (OpenAI's load_image does this). */
  centerCrop?: boolean;
  /** Resize to [width, height] (Pillow's bicubic). */
  resize?: [number, number];
}

/** The [width, height] prepareImage gives an image of this size: the resize's, else the centre square's, else its own. */
export function preparedSize(width: number, height: number, opts: PrepareOptions): [number, number] {
  if (opts.resize) return [opts.resize[0], opts.resize[1]];
  return opts.centerCrop ? [Math.min(width, height), Math.min(width, height)] : [width, height];
}

/** Crops/resizes as asked, then checks the sides are multiples of the model's downscale factor. */
export function prepareImage(img: RgbImage, opts: PrepareOptions, multiple: number, what: string): { image: RgbImage; crop?: string; resize?: string } {
  let image = img;
  let cropNote: string | undefined;
  let resizeNote: string | undefined;
  if (opts.centerCrop) {
    image = centerCrop(image);
    cropNote = `center ${image.width}x${image.height} of ${img.width}x${img.height}`;
  }
  if (opts.resize) {
    image = resize(image, opts.resize[0], opts.resize[1]);
    resizeNote = `${opts.resize[0]}x${opts.resize[1]} bicubic`;
  }
  if (image.width % multiple || image.height % multiple)
    throw new Error(`${what}: the image is ${image.width}x${image.height}; both sides must be multiples of ${multiple}. Use --resize WxH (e.g. --resize ${Math.max(multiple, Math.round(image.width / multiple) * multiple)}x${Math.max(multiple, Math.round(image.height / multiple) * multiple)}) or --center-crop`);
  return { image, crop: cropNote, resize: resizeNote };
}

export interface EncodeOptions {
  /** Draw a sample (mean + std · ε, ε from the torch-compatible generator) instead of the mean. */
  sampleSeed?: number;
}

/** image -> scaled latent [1, C, h, w] (NCHW, as stored). */
export async function encodeImage(gpu: Gpu, m: LoadedModel, image: RgbImage, opts: EncodeOptions = {}): Promise<{ data: Float32Array; shape: [number, number, number, number] }> {
  const restore = withinBudget(gpu, `encoding a ${image.width}x${image.height} image with ${m.name}`, 'encode', [1, image.height, image.width, 3], (x) => m.model.encode(x));
  const x = gpu.upload(toTensorData(image), [1, image.height, image.width, 3], 'image');
  let dist: LatentDistribution;
  try {
    dist = m.model.encode(x);
  } finally {
    restore();
  }
  x.release();
  const [n, h, w, c] = dist.mean.shape;
  const shape: [number, number, number, number] = [n, c, h, w];
  const z = opts.sampleSeed === undefined ? dist.mode() : dist.sample(opts.sampleSeed);
  const mean = nhwcToNchw(await z.read(), z.shape);
  if (z !== dist.mean) z.release();
  dist.release();
  const s = m.model.scalingFactor;
  return { data: mean.map((v) => Math.fround(v * s)), shape };
}

export function latentMeta(m: LoadedModel, extra: Partial<LatentMeta> = {}): LatentMeta {
  return { model: m.name, latentSpace: m.latentSpace, scalingFactor: m.model.scalingFactor, ...extra };
}

/**
 * What a run gives up, step by step, to fit a memory budget (each step keeps the ones before): Winograd
 * transforms cached with the weights (made at each use instead), then Winograd itself (its scratch and
 * transformed weights: direct convolutions, slower, and rounded differently within the same tolerance).
 */
const BUDGET_STEPS: { what: string; apply: () => void }[] = [
  { what: 'Winograd transforms made at each use', apply: () => void (winogradPolicy.cache = 'none') },
  { what: 'direct convolutions', apply: () => void (convPolicy.winograd = false) },
];

/**
 * With a memory budget on the Gpu, plans `run` on an input of `shape` first. When it would not fit, what
 * is idle is freed and the plan is tried again, then with each of BUDGET_STEPS in turn; the first that fits stays in force for the real
 * run, until the returned function restores the policies. When none fits, refuses with a
 * MemoryBudgetError saying what the run needs and what to change. Runs nothing.
 */
function withinBudget(gpu: Gpu, what: string, kind: 'vae' | 'consistency' | 'tiled' | 'taesd' | 'encode', shape: number[], run: (x: Tensor) => { release(): void }): () => void {
  const advice = {
    consistency: 'To need less: decode in tiles (--tiled), keep the weights 16-bit (an F16 checkpoint, or --weights f16), or decode a smaller image.',
    tiled: 'To need less: use smaller tiles (--tile-size), keep the weights 16-bit (an F16 checkpoint, or --weights f16).',
    vae: 'To need less: keep the weights 16-bit (an fp16 file, or --weights f16), use the tiled decode (--tiled), or decode a smaller image.',
    taesd: 'To need less: decode a smaller image.',
    encode: 'To need less: keep the weights 16-bit (--weights f16) or encode a smaller image (--resize).',
  }[kind];
  const budget = gpu.memoryBudget;
  const nothing = () => {};
  if (budget === undefined) return nothing;
  const need = () =>
    gpu.plan(() => {
      const x = gpu.empty(shape, 'planned input');
      const y = run(x);
      x.release();
      y.release();
    }).peakBytes;
  if (need() <= budget) return nothing;
  // Between runs, what is idle can go first: pooled buffers, the arena's buffers, Winograd's shared texture.
  gpu.pool.trim();
  releaseTransientU(gpu);
  const first = need();
  if (first <= budget) return nothing;
  const saved = { winograd: { ...winogradPolicy }, conv: { ...convPolicy } };
  const restore = () => {
    Object.assign(winogradPolicy, saved.winograd);
    Object.assign(convPolicy, saved.conv);
  };
  let least = first;
  for (const step of BUDGET_STEPS) {
    step.apply();
    const n = need();
    least = Math.min(least, n);
    if (n <= budget) return restore;
  }
  restore();
  const also = least < first ? `With ${BUDGET_STEPS.map((s) => s.what).join(' and ')} it still needs ${(least / 2 ** 20).toFixed(0)} MiB. ` : '';
  throw new MemoryBudgetError(what, first, budget, also + advice);
}

/** stored (scaled) latent -> image, with the model's decoder. */
export async function decodeLatent(gpu: Gpu, m: LoadedModel, latent: StoredLatent, path: string, opts: Omit<TiledConsistencyOptions, 'ctx'> & { tiled?: boolean } = {}): Promise<RgbImage> {
  checkCompatible(latent, path, m.latentSpace, m.name);
  assertFinite(latent.data, path);
  const [n, c, h, w] = latent.shape;
  if (n !== 1) throw new Error(`${path}: holds ${n} latents; decode writes one PNG, so store one latent per file`);
  const unscaled = latent.data.map((v) => v / latent.meta.scalingFactor);
  const vae = m.kind === 'vae' ? (m.model as AutoencoderKL) : null;
  const cd = m.model as ConsistencyDecoder;
  const run = (z: Tensor) => (vae ? vae.decode(z) : cd.decode(z, opts));
  const what = `decoding ${path} to ${w * m.model.downscale}x${h * m.model.downscale} with ${m.name}`;
  const restore = !opts.tiled
    ? withinBudget(gpu, what, m.kind, [n, h, w, c], run)
    : !vae ? withinBudget(gpu, `${what} in tiles`, 'tiled', [n, h, w, c], (z) => planTiledConsistencyStep(cd, z, opts)) : () => {};
  const z = gpu.upload(nchwToNhwc(unscaled, latent.shape), [n, h, w, c], 'latent');
  let y: Tensor;
  try {
    y = opts.tiled ? (vae ? await tiledDecode(vae, z) : await tiledConsistencyDecode(cd, z, opts)) : run(z);
  } finally {
    restore();
  }
  z.release();
  const data = await y.read();
  const [, H, W] = y.shape;
  y.release();
  return fromTensorData(data, W, H);
}
