// AutoencoderKL: Stable Diffusion's VAE. Mirrors diffusers 0.27.2
//   src/diffusers/models/autoencoders/vae.py             Encoder, Decoder, DiagonalGaussianDistribution
//   src/diffusers/models/autoencoders/autoencoder_kl.py  AutoencoderKL (quant_conv, post_quant_conv)
//
// Shapes for SD 1.x (block_out_channels [128, 256, 512, 512]) and a 512x512 image, NHWC:
//   encode: [1,512,512,3] -conv_in-> [1,512,512,128] -down_blocks-> [1,64,64,512] -mid-> -norm,silu,conv_out->
//           [1,64,64,8] -quant_conv-> mean, logvar [1,64,64,4] each
//   decode: [1,64,64,4] -post_quant_conv-> -conv_in-> [1,64,64,512] -mid-> -up_blocks-> [1,512,512,128]
//           -norm,silu,conv_out-> [1,512,512,3]
// encode/decode never apply scaling_factor (pipelines multiply latents by it after encoding and
// divide before decoding); neither do these.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { expHalfClamped, fma } from '../kernels/elementwise.js';
import { nchwToNhwc } from '../gpu/tensor.js';
import { TorchGenerator } from './torch_rng.js';
import { sliceChannels } from '../kernels/slice.js';
import { cast, type ActivationDType } from '../kernels/activation.js';
import { checkActivations, type ActivationOptions } from './activations.js';
import { plannedRun, preparedRun } from './planned.js';
import { emit, type RunContext } from './context.js';
import { Conv2d, GroupNorm, normSiluTapped } from './layers.js';
import { loadFromCheckpoint, loadFromSource, ParamLoader, type BeforeRead, type LoadOptions, type ModelSource, type ParamSource } from './params.js';
import { DownEncoderBlock2D, UNetMidBlock2D, UpDecoderBlock2D } from './vae_blocks.js';

export interface AutoencoderKLConfig {
  in_channels: number;
  out_channels: number;
  block_out_channels: number[];
  layers_per_block: number;
  latent_channels: number;
  norm_num_groups: number;
  scaling_factor: number;
  down_block_types?: string[];
  up_block_types?: string[];
  act_fn?: string;
  /** diffusers: this VAE overflows f16 (SDXL's); f16 activations are then refused unless forced. */
  force_upcast?: boolean;
}

const VAE_EPS = 1e-6;

/** Checks a config.json for the structure these classes implement; names the field that differs. */
export function parseAutoencoderKLConfig(raw: Record<string, unknown>, file: string): AutoencoderKLConfig {
  const cfg = { in_channels: 3, out_channels: 3, latent_channels: 4, norm_num_groups: 32, scaling_factor: 0.18215, layers_per_block: 1, ...raw } as AutoencoderKLConfig;
  const bad = (what: string) => new Error(`${file}: ${what}`);
  if (!Array.isArray(cfg.block_out_channels) || cfg.block_out_channels.length < 1 || !cfg.block_out_channels.every((c) => Number.isInteger(c) && c > 0))
    throw bad('block_out_channels must be a list of positive integers');
  for (const c of cfg.block_out_channels) if (c % cfg.norm_num_groups) throw bad(`block_out_channels ${c} is not divisible by norm_num_groups ${cfg.norm_num_groups}`);
  if ((cfg.down_block_types ?? []).some((t) => t !== 'DownEncoderBlock2D')) throw bad(`down_block_types ${cfg.down_block_types} (only DownEncoderBlock2D is supported)`);
  if ((cfg.up_block_types ?? []).some((t) => t !== 'UpDecoderBlock2D')) throw bad(`up_block_types ${cfg.up_block_types} (only UpDecoderBlock2D is supported)`);
  if (cfg.act_fn && cfg.act_fn !== 'silu') throw bad(`act_fn ${cfg.act_fn} (only silu is supported)`);
  return cfg;
}

export class Encoder {
  readonly conv_in: Conv2d;
  readonly down_blocks: DownEncoderBlock2D[];
  readonly mid_block: UNetMidBlock2D;
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(ctx: RunContext, p: ParamLoader, cfg: AutoencoderKLConfig, readonly doubleZ = true) {
    const ch = cfg.block_out_channels;
    const g = cfg.norm_num_groups;
    this.conv_in = new Conv2d(ctx.gpu, p.sub('conv_in'), cfg.in_channels, ch[0], 3, { padding: [1, 1, 1, 1] });
    this.down_blocks = ch.map((out, i) =>
      new DownEncoderBlock2D(ctx, p.sub('down_blocks').sub(i), { inChannels: i ? ch[i - 1] : ch[0], outChannels: out, numLayers: cfg.layers_per_block, groups: g, eps: VAE_EPS, addDownsample: i < ch.length - 1 }),
    );
    const last = ch[ch.length - 1];
    this.mid_block = new UNetMidBlock2D(ctx, p.sub('mid_block'), last, g, VAE_EPS);
    this.conv_norm_out = new GroupNorm(ctx.gpu, p.sub('conv_norm_out'), last, g, VAE_EPS);
    this.conv_out = new Conv2d(ctx.gpu, p.sub('conv_out'), last, (doubleZ ? 2 : 1) * cfg.latent_channels, 3, { padding: [1, 1, 1, 1] });
  }

  /** image [N, H, W, 3] in [-1, 1] -> moments [N, H/f, W/f, 2L]. */
  forward(ctx: RunContext, x: Tensor): Tensor {
    let h = this.conv_in.forward(ctx.gpu, x, 'encoder.conv_in');
    emit(ctx, 'encoder.conv_in', h);
    for (const block of this.down_blocks) h = block.forward(ctx, h, true);
    h = this.mid_block.forward(ctx, h, true);
    h = replace(h, normSiluTapped(ctx, this.conv_norm_out, h, 'encoder.conv_norm_out'));
    h = replace(h, this.conv_out.forward(ctx.gpu, h, 'encoder.conv_out'));
    emit(ctx, 'encoder.conv_out', h);
    return h;
  }

  release(): void {
    for (const m of [this.conv_in, ...this.down_blocks, this.mid_block, this.conv_norm_out, this.conv_out]) m.release();
  }
}

export class Decoder {
  readonly conv_in: Conv2d;
  readonly mid_block: UNetMidBlock2D;
  readonly up_blocks: UpDecoderBlock2D[];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(ctx: RunContext, p: ParamLoader, cfg: AutoencoderKLConfig) {
    const rev = [...cfg.block_out_channels].reverse();
    const g = cfg.norm_num_groups;
    this.conv_in = new Conv2d(ctx.gpu, p.sub('conv_in'), cfg.latent_channels, rev[0], 3, { padding: [1, 1, 1, 1] });
    this.mid_block = new UNetMidBlock2D(ctx, p.sub('mid_block'), rev[0], g, VAE_EPS);
    this.up_blocks = rev.map((out, i) =>
      new UpDecoderBlock2D(ctx, p.sub('up_blocks').sub(i), { inChannels: i ? rev[i - 1] : rev[0], outChannels: out, numLayers: cfg.layers_per_block + 1, groups: g, eps: VAE_EPS, addUpsample: i < rev.length - 1 }),
    );
    const last = rev[rev.length - 1];
    this.conv_norm_out = new GroupNorm(ctx.gpu, p.sub('conv_norm_out'), last, g, VAE_EPS);
    this.conv_out = new Conv2d(ctx.gpu, p.sub('conv_out'), last, cfg.out_channels, 3, { padding: [1, 1, 1, 1] });
  }

  /** z [N, h, w, L] (after post_quant_conv) -> image [N, h*f, w*f, 3]. */
  forward(ctx: RunContext, z: Tensor): Tensor {
    let h = this.conv_in.forward(ctx.gpu, z, 'decoder.conv_in');
    emit(ctx, 'decoder.conv_in', h);
    h = this.mid_block.forward(ctx, h, true);
    for (const block of this.up_blocks) h = block.forward(ctx, h, true);
    h = replace(h, normSiluTapped(ctx, this.conv_norm_out, h, 'decoder.conv_norm_out'));
    h = replace(h, this.conv_out.forward(ctx.gpu, h, 'decoder.conv_out'));
    emit(ctx, 'decoder.conv_out', h);
    return h;
  }

  release(): void {
    for (const m of [this.conv_in, this.mid_block, ...this.up_blocks, this.conv_norm_out, this.conv_out]) m.release();
  }
}

/** The encoder's output distribution (diffusers DiagonalGaussianDistribution), NHWC [N, h, w, L]. */
export interface LatentDistribution {
  mean: Tensor;
  /** Raw logvar (not clamped), as quant_conv produces it. */
  logvar: Tensor;
  /** exp(0.5 · clamp(logvar, −30, 20)). */
  std: Tensor;
  /** The distribution's mode, the mean (deterministic encoding). The tensor belongs to the distribution. */
  mode(): Tensor;
  /**
   * A new tensor mean + std · ε, with ε = torch.randn(mean's NCHW shape) after manual_seed(seed) (our
   * torch-compatible generator), as diffusers' `latent_dist.sample(generator)`. The caller releases it.
   */
  sample(seed: number): Tensor;
  release(): void;
}

export class AutoencoderKL {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;
  /** How activations are stored between ops (models/activations.ts); default f32. */
  activations: ActivationDType = 'f32';

  constructor(readonly gpu: Gpu, p: ParamLoader, readonly config: AutoencoderKLConfig) {
    const ctx = { gpu };
    const L = config.latent_channels;
    this.encoder = new Encoder(ctx, p.sub('encoder'), config);
    this.decoder = new Decoder(ctx, p.sub('decoder'), config);
    this.quant_conv = new Conv2d(gpu, p.sub('quant_conv'), 2 * L, 2 * L, 1);
    this.post_quant_conv = new Conv2d(gpu, p.sub('post_quant_conv'), L, L, 1);
  }

  /**
   * Loads a checkpoint: a diffusers folder (config.json + diffusion_pytorch_model[.fp16].safetensors,
   * F32/F16/BF16) or a single-file LDM/A1111 VAE. Every tensor is checked: one error lists all missing,
   * unexpected and wrong-shape tensors. Node only (reads files).
   */
  /** From a diffusers folder or a single checkpoint file (Node). */
  /** `beforeRead`: called with the built model before its weights are read (e.g. its prepareDecode). */
  static async load(gpu: Gpu, path: string, opts: LoadOptions = {}, beforeRead?: BeforeRead<AutoencoderKL>): Promise<AutoencoderKL> {
    return loadFromCheckpoint(path, AutoencoderKL.build(gpu), () => gpu.sync(), opts, beforeRead);
  }

  /** From any source of named tensors (e.g. fetched over HTTP in a browser). */
  static async fromSource(gpu: Gpu, src: ModelSource, opts: LoadOptions = {}, beforeRead?: BeforeRead<AutoencoderKL>): Promise<AutoencoderKL> {
    return loadFromSource(src, AutoencoderKL.build(gpu), () => gpu.sync(), opts, beforeRead);
  }

  private static build(gpu: Gpu) {
    return (p: ParamLoader, raw: Record<string, unknown>, file: string, names: string[], source: ParamSource) =>
      new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(Object.keys(raw).length ? raw : inferAutoencoderKLConfig(names, source), file));
  }

  get scalingFactor(): number {
    return this.config.scaling_factor;
  }

  /** Image sides must be multiples of this (2^(levels-1): 8 for SD). */
  get downscale(): number {
    return 2 ** (this.config.block_out_channels.length - 1);
  }

  /**
   * Stores activations as f16 (needs `shader-f16`; refused when the config says force_upcast: true,
   * unless `force`) or f32 (the default). Inputs and outputs stay f32 (models/activations.ts).
   */
  setActivations(dtype: ActivationDType, opts: ActivationOptions = {}): void {
    this.activations = checkActivations(this.gpu, dtype, this.config.force_upcast === true, 'AutoencoderKL', opts);
  }

  /** image [N, H, W, 3] in [-1, 1] -> the latent distribution. */
  encode(image: Tensor, ctx: RunContext = { gpu: this.gpu }): LatentDistribution {
    const run = () => encodeToDistribution(ctx, this.encoder, this.quant_conv, image, this.config.latent_channels, this.downscale, this.activations);
    return plannedRun(this.gpu, this, `encode [${image.shape}] ${this.activations}`, run, (d) => d.release());
  }

  /** latent [N, h, w, L] (unscaled) -> image [N, h*f, w*f, 3], roughly in [-1, 1]. */
  decode(latent: Tensor, ctx: RunContext = { gpu: this.gpu }): Tensor {
    const [, , , c] = latent.shape;
    if (latent.shape.length !== 4 || c !== this.config.latent_channels)
      throw new Error(`decode: latent [${latent.shape}] (NHWC) must have ${this.config.latent_channels} channels`);
    return plannedRun(this.gpu, this, `decode [${latent.shape}] ${this.activations}`, () => this.decodeNow(ctx, latent), (y) => y.release());
  }

  /**
   * Plans decode() of a latent of `shape` (NHWC) before it is called, even before the weights have
   * arrived (load's `prepareDecode`): the plan, its activation arena and its pipelines are then made
   * while the weights are read, not in the first decode (Gpu.prepare). Resolves when its pipelines
   * are compiled.
   */
  prepareDecode(shape: readonly number[]): Promise<void> {
    if (shape.length !== 4 || shape[3] !== this.config.latent_channels)
      throw new Error(`prepareDecode: latent [${shape}] (NHWC) must have ${this.config.latent_channels} channels`);
    const run = () => {
      const latent = this.gpu.empty(shape, 'planned latent', 'f32', true); // as decode's input: outside the arena
      const y = this.decodeNow({ gpu: this.gpu }, latent);
      latent.release();
      return y;
    };
    return preparedRun(this.gpu, this, `decode [${shape}] ${this.activations}`, run, (y) => y.release());
  }

  private decodeNow(ctx: RunContext, latent: Tensor): Tensor {
    const zIn = cast(this.gpu, latent, this.activations, 'latent_cast');
    const z = this.post_quant_conv.forward(this.gpu, zIn, 'post_quant_conv');
    if (zIn !== latent) zIn.release();
    emit(ctx, 'post_quant_conv', z);
    const y = this.decoder.forward(ctx, z);
    z.release();
    const out = cast(this.gpu, y, 'f32', 'image_f32');
    if (out !== y) y.release();
    return out;
  }

  release(): void {
    for (const m of [this.encoder, this.decoder, this.quant_conv, this.post_quant_conv]) m.release();
  }
}

/** encoder -> quant_conv -> (mean, logvar, std): shared with the consistency decoder's encoder. */
export function encodeToDistribution(ctx: RunContext, encoder: Encoder, quantConv: Conv2d, image: Tensor, latentChannels: number, downscale: number, act: ActivationDType = 'f32'): LatentDistribution {
  checkImage(image, encoder.conv_in.weight.cin, downscale);
  const x = cast(ctx.gpu, image, act, 'image_cast');
  const moments = encoder.forward(ctx, x);
  if (x !== image) x.release();
  const qStored = quantConv.forward(ctx.gpu, moments, 'quant_conv'); // [N, h, w, 2L]
  moments.release();
  emit(ctx, 'quant_conv', qStored);
  // The distribution (mean, logvar, std, samples) is f32 whatever the activations.
  const q = cast(ctx.gpu, qStored, 'f32', 'quant_conv_f32');
  if (q !== qStored) qStored.release();
  const mean = sliceChannels(ctx.gpu, q, 0, latentChannels, 'latent_mean');
  const logvar = sliceChannels(ctx.gpu, q, latentChannels, 2 * latentChannels, 'latent_logvar');
  q.release();
  const std = expHalfClamped(ctx.gpu, logvar, 'latent_std');
  return {
    mean,
    logvar,
    std,
    mode: () => mean,
    sample: (seed: number) => {
      const [n, h, w, c] = mean.shape;
      const eps = ctx.gpu.upload(nchwToNhwc(new TorchGenerator(seed).randn([n, c, h, w]), [n, c, h, w]), mean.shape, 'eps');
      const noisy = fma(ctx.gpu, std, eps, mean, 'latent_sample'); // mean + std · ε
      eps.release();
      return noisy;
    },
    release: () => [mean, logvar, std].forEach((t) => t.release()),
  };
}

export function checkImage(image: Tensor, channels: number, multiple: number): void {
  const [n, h, w, c] = image.shape;
  if (image.shape.length !== 4 || c !== channels) throw new Error(`encode: image [${image.shape}] must be NHWC with ${channels} channels`);
  if (n < 1 || h % multiple || w % multiple || h === 0 || w === 0)
    throw new Error(`encode: image is ${w}x${h}; both sides must be positive multiples of ${multiple} (crop or resize it, e.g. with --resize)`);
}

/** Releases `old` and returns `next` (for h = f(h) chains). */
function replace(old: Tensor, next: Tensor): Tensor {
  old.release();
  return next;
}



/** A config for a checkpoint that came without config.json (single-file LDM VAEs), read off its shapes. */
export function inferAutoencoderKLConfig(names: string[], source: ParamSource): Record<string, unknown> {
  const shape = (n: string) => {
    const e = source(n);
    if (!e) throw new Error(`cannot infer the VAE config: no tensor ${n}`);
    return e.shape;
  };
  const levels = new Set(names.map((n) => /^encoder\.down_blocks\.(\d+)\./.exec(n)?.[1]).filter((v) => v !== undefined)).size;
  const layers = new Set(names.map((n) => /^encoder\.down_blocks\.0\.resnets\.(\d+)\./.exec(n)?.[1]).filter((v) => v !== undefined)).size;
  return {
    in_channels: shape('encoder.conv_in.weight')[1],
    out_channels: shape('decoder.conv_out.weight')[0],
    block_out_channels: Array.from({ length: levels }, (_, i) => shape(`encoder.down_blocks.${i}.resnets.0.conv1.weight`)[0]),
    layers_per_block: layers,
    latent_channels: shape('post_quant_conv.weight')[0],
    norm_num_groups: 32,
    scaling_factor: 0.18215,
  };
}
