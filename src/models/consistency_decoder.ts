// OpenAI's consistency decoder, as diffusers 0.27.2 runs it:
//   src/diffusers/models/autoencoders/consistency_decoder_vae.py   ConsistencyDecoderVAE.decode
//   src/diffusers/schedulers/scheduling_consistency_decoder.py     ConsistencyDecoderScheduler
//
//   z' = nearest_f((z · 0.18215 − means) / stds)              f = 2^(encoder levels − 1) = 8
//   x  = √(1−ᾱ[t0]) · ε0                                      (init_noise_sigma)
//   for each step t:
//     out = UNet(cat([c_in[t] · x, z']), t)[:, :3]
//     x0  = c_out[t] · out + c_skip[t] · x                    (clamp(x0, −1, 1) with clamp: true, as OpenAI)
//     x   = √ᾱ[next] · x0 + √(1−ᾱ[next]) · ε_i   unless t is the last step; then the result is x0
//
// Timesteps: diffusers supports only [1008, 512]. OpenAI's sampler maps a schedule fraction s to
// round_up_16(⌊1023·s⌋) capped at 1008; `steps: n` uses the fractions 1, (n−1)/n, ..., 1/n
// (n=1: [1008], n=2: [1008, 512], n=4: [1008, 768, 512, 256]). The default is 2 steps without clamp,
// which is what diffusers computes (and the reference checks). OpenAI's original clamps x0 after
// every step; `clamp: true` does that.

import type { Gpu } from '../gpu/gpu.js';
import { nchwToNhwc, type Tensor } from '../gpu/tensor.js';
import { concatChannels } from '../kernels/concat.js';
import { axpby, clampTensor, scale } from '../kernels/elementwise.js';
import { latentNormalize } from '../kernels/latent_norm.js';
import { sliceChannels } from '../kernels/slice.js';
import { upsampleNearest } from '../kernels/upsample.js';
import { Encoder, encodeToDistribution, type AutoencoderKLConfig, type LatentDistribution } from './autoencoder_kl.js';
import { CONSISTENCY_LATENT } from './consistency_constants.js';
import { emit, type RunContext } from './context.js';
import { plannedRun, preparedRun } from './planned.js';
import { Conv2d } from './layers.js';
import { loadFromCheckpoint, loadFromSource, ParamLoader, type BeforeRead, type LoadOptions, type ModelSource } from './params.js';
import { consistencySchedule, type ConsistencySchedule } from './schedule.js';
import { TorchGenerator } from './torch_rng.js';
import { UNet2DModel, type UNet2DConfig } from './unet2d.js';
import { cast, type ActivationDType } from '../kernels/activation.js';
import { checkActivations, type ActivationOptions } from './activations.js';

export interface ConsistencyDecodeOptions {
  /** Number of steps (OpenAI schedule fractions); default 2. Ignored when `timesteps` is given. */
  steps?: number;
  /** Explicit timesteps, e.g. [1008, 512]; each in [0, 1024), strictly decreasing. */
  timesteps?: number[];
  /** Seed of the torch-compatible generator: the same seed gives diffusers' noise bit for bit. */
  seed?: number;
  /** Explicit noise, one NCHW [N, 3, H, W] array per step, in the order the sampler draws them. */
  noise?: Float32Array[];
  /** Clamp x0 to [-1, 1] after every step (OpenAI's original); default false (diffusers), true for OpenAI's decoder.pt (config.default_clamp). */
  clamp?: boolean;
  /** Called as each step is recorded. */
  onStep?: (step: number, timestep: number, steps: number) => void;
  /** Taps: module outputs of the first UNet call (`decoder_unet.*`), and the sampler's tensors. */
  ctx?: RunContext;
}

export interface ConsistencyDecoderConfig {
  latent_channels: number;
  scaling_factor: number;
  encoder: AutoencoderKLConfig;
  unet: UNet2DConfig;
  /** diffusers registers force_upcast=False for this model; honoured like the VAE's if a config sets it. */
  force_upcast?: boolean;
  /** False for OpenAI's decoder.pt, which holds only the UNet (encode with the SD VAE instead). */
  has_encoder?: boolean;
  /** The sampler's clamp when decode() is not told: true (OpenAI's sampler) for decoder.pt. */
  default_clamp?: boolean;
}

/** OpenAI's round_timesteps(arange(1024), 1024, 64, truncate_start=False) at fraction s. */
export function openaiTimestep(s: number): number {
  const t = Math.floor(1023 * s);
  const r = (Math.floor(t / 16) + 1) * 16;
  return r === 1024 ? 1008 : r;
}

export function timestepsForSteps(n: number): number[] {
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`steps must be an integer from 1 to 64, got ${n}`);
  const ts = Array.from({ length: n }, (_, i) => openaiTimestep(1 - i / n));
  if (new Set(ts).size !== n) throw new Error(`${n} steps give repeated timesteps (${ts}); use fewer steps`);
  return ts;
}

export class ConsistencyDecoder {
  readonly encoder: Encoder | undefined;
  readonly quant_conv: Conv2d | undefined;
  readonly decoder_unet: UNet2DModel;
  readonly schedule: ConsistencySchedule = consistencySchedule();
  /** How the encoder's and the UNet's activations are stored (models/activations.ts); default f32. */
  activations: ActivationDType = 'f32';

  constructor(readonly gpu: Gpu, p: ParamLoader, readonly config: ConsistencyDecoderConfig) {
    const ctx = { gpu };
    const L = config.latent_channels;
    const withEncoder = config.has_encoder !== false;
    this.encoder = withEncoder ? new Encoder(ctx, p.sub('encoder'), config.encoder) : undefined;
    this.quant_conv = withEncoder ? new Conv2d(gpu, p.sub('quant_conv'), 2 * L, 2 * L, 1) : undefined;
    this.decoder_unet = new UNet2DModel(ctx, p.sub('decoder_unet'), config.unet);
  }

  /**
   * From a diffusers folder or a checkpoint (Node). `beforeRead`: called with the built model before its
   * weights are read (e.g. its prepareDecode).
   */
  static async load(gpu: Gpu, path: string, opts: LoadOptions = {}, beforeRead?: BeforeRead<ConsistencyDecoder>): Promise<ConsistencyDecoder> {
    return loadFromCheckpoint(path, (p, raw, file) => new ConsistencyDecoder(gpu, p, parseConsistencyConfig(raw, file)), () => gpu.sync(), opts, beforeRead);
  }

  /** From any source of named tensors (e.g. fetched over HTTP in a browser); `beforeRead` as for load. */
  static async fromSource(gpu: Gpu, src: ModelSource, opts: LoadOptions = {}, beforeRead?: BeforeRead<ConsistencyDecoder>): Promise<ConsistencyDecoder> {
    return loadFromSource(src, (p, raw, file) => new ConsistencyDecoder(gpu, p, parseConsistencyConfig(raw, file)), () => gpu.sync(), opts, beforeRead);
  }

  get scalingFactor(): number {
    return this.config.scaling_factor;
  }

  /** Latent upsampling factor 2^(encoder levels − 1): image sides are this multiple of latent sides. */
  get downscale(): number {
    return 2 ** (this.config.encoder.block_out_channels.length - 1);
  }

  encode(image: Tensor, ctx: RunContext = { gpu: this.gpu }): LatentDistribution {
    if (!this.encoder || !this.quant_conv) throw new Error("encode: this consistency decoder has no encoder (OpenAI's decoder.pt holds only the decoder UNet); encode with the SD VAE (--vae), as diffusers pairs them");
    const [encoder, quantConv] = [this.encoder, this.quant_conv];
    const run = () => encodeToDistribution(ctx, encoder, quantConv, image, this.config.latent_channels, this.downscale, this.activations);
    return plannedRun(this.gpu, this, `encode [${image.shape}] ${this.activations}`, run, (d) => d.release());
  }

  /**
   * Stores the encoder's and the UNet's activations as f16 (needs `shader-f16`) or f32 (the default).
   * The sampler (x_t, x0, noise, the scheduler arithmetic) stays f32 (models/activations.ts).
   */
  setActivations(dtype: ActivationDType, opts: ActivationOptions = {}): void {
    this.activations = checkActivations(this.gpu, dtype, this.config.force_upcast === true, 'ConsistencyDecoder', opts);
  }

  /** latent [N, h, w, 4] (unscaled, as the encoder gives it) -> image [N, h·f, w·f, 3]. */
  decode(latent: Tensor, opts: ConsistencyDecodeOptions = {}): Tensor {
    this.checkLatent(latent, 'decode');
    return plannedRun(this.gpu, this, this.decodeKey(latent.shape, opts), () => this.decodeNow(latent, opts), (x) => x.release());
  }

  /**
   * Plans decode() of a latent of `shape` (NHWC, unscaled) with these options (steps or timesteps, clamp,
   * noise given or drawn: what its plan depends on) before it is called, even before the weights have
   * arrived (load's `beforeRead`; loadModel's `prepareDecode`): the plan, its activation arena and its
   * pipelines are then made while the weights are read, not in the first decode (Gpu.prepare).
   * Resolves when its pipelines are compiled.
   */
  prepareDecode(shape: readonly number[], opts: ConsistencyDecodeOptions = {}): Promise<void> {
    this.checkLatent({ shape }, 'prepareDecode');
    const planOpts = { ...opts, onStep: undefined, ctx: undefined }; // a plan reports no progress and taps nothing
    const run = () => {
      const latent = this.gpu.empty(shape, 'planned latent', 'f32', true); // as decode's input: outside the arena
      const x = this.decodeNow(latent, planOpts);
      latent.release();
      return x;
    };
    return preparedRun(this.gpu, this, this.decodeKey(shape, opts), run, (x) => x.release());
  }

  /** decode()'s plan key: the input's shape and what the sampler's allocations depend on. */
  private decodeKey(shape: readonly number[], opts: ConsistencyDecodeOptions): string {
    return `decode [${shape}] ${this.activations} steps ${this.resolveTimesteps(opts)} clamp ${this.resolveClamp(opts)} noise ${opts.noise ? 'given' : 'drawn'}`;
  }

  private decodeNow(latent: Tensor, opts: ConsistencyDecodeOptions): Tensor {
    const gpu = this.gpu;
    const ctx = opts.ctx ?? { gpu };
    const [n, h, w] = this.checkLatent(latent, 'decode');
    const timesteps = this.resolveTimesteps(opts);
    const f = this.downscale;
    const shape: [number, number, number, number] = [n, 3, h * f, w * f];
    const noise = this.drawNoise(opts, timesteps.length, shape).map((a, i) => this.uploadNoise(a, shape, i));
    const s = this.schedule;

    const z = this.prepareLatent(latent, ctx); // [N, H, W, 4]
    let x = this.initialSample(noise[0], timesteps[0]); // [N, H, W, 3]
    for (let i = 0; i < timesteps.length; i++) {
      const t = timesteps[i];
      if (!gpu.dryRun) opts.onStep?.(i, t, timesteps.length); // a plan of the decode reports no progress
      emit(ctx, `x_t_${i}`, x);
      const xIn = scale(gpu, s.cIn[t], x, 'scale_model_input');
      const unetIn = concatChannels(gpu, xIn, z, 'unet_input'); // [N, H, W, 7]
      xIn.release();
      emit(ctx, `unet_input_${i}`, unetIn);
      const stepCtx: RunContext = i === 0 ? ctx : { ...ctx, tapFilter: (p) => !p.startsWith('decoder_unet') && (!ctx.tapFilter || ctx.tapFilter(p)) };
      const out = this.denoise(stepCtx, unetIn, t, i); // [N, H, W, 3]; releases unetIn
      x = this.samplerStep(x, out, i, timesteps, this.resolveClamp(opts), noise[i + 1]);
    }
    z.release();
    return x;
  }

  // The sampler's pieces, shared by decode and the tiled decode (tiled_consistency.ts).

  /** Checks a latent's layout; returns its [N, h, w]. */
  checkLatent(latent: { shape: readonly number[] }, what: string): [number, number, number] {
    const [n, h, w, c] = latent.shape;
    if (latent.shape.length !== 4 || c !== this.config.latent_channels)
      throw new Error(`${what}: latent [${latent.shape}] (NHWC) must have ${this.config.latent_channels} channels`);
    return [n, h, w];
  }

  /** z' = nearest_f((z · scaling_factor − means) / stds): the UNet's conditioning, [N, H, W, 4]. */
  prepareLatent(latent: Tensor, ctx: RunContext): Tensor {
    const normed = latentNormalize(this.gpu, latent, this.config.scaling_factor, CONSISTENCY_LATENT.means, CONSISTENCY_LATENT.stds);
    const z = upsampleNearest(this.gpu, normed, this.downscale, 'latent_upsample'); // [N, H, W, 4]
    normed.release();
    emit(ctx, 'latent_normalized_upsampled', z);
    return z;
  }

  /** x = √(1−ᾱ[t0]) · ε0 (init_noise_sigma); releases the noise. */
  initialSample(noise0: Tensor, t0: number): Tensor {
    const x = scale(this.gpu, this.schedule.sqrtOneMinusAlphasCumprod[t0], noise0, 'x_t_0');
    noise0.release();
    return x;
  }

  /**
   * One UNet evaluation at step i: UNet(unetIn, t)[:, :3] in f32, unetIn = cat([c_in·x, z']) [N, H, W, 7]
   * (f32). Releases unetIn.
   */
  denoise(ctx: RunContext, unetIn: Tensor, t: number, i: number): Tensor {
    const gpu = this.gpu;
    // The UNet runs on the model's activation dtype; its input and output are cast at its edges.
    const unetAct = cast(gpu, unetIn, this.activations, 'unet_input_cast');
    const outStored = this.decoder_unet.forward(ctx, unetAct, t); // [N, H, W, 6]
    if (unetAct !== unetIn) unetAct.release();
    unetIn.release();
    const out6 = cast(gpu, outStored, 'f32', 'unet_output_f32');
    if (outStored !== out6) outStored.release();
    emit(ctx, `unet_output_${i}`, out6);
    const out = sliceChannels(this.gpu, out6, 0, 3, 'unet_output[:3]');
    out6.release();
    return out;
  }

  /**
   * x0 = c_out·out + c_skip·x (clamped with `clamp`); then x0 at the last step, else the re-noised
   * √ᾱ[next]·x0 + √(1−ᾱ[next])·ε. Releases x, out and the noise.
   */
  samplerStep(x: Tensor, out: Tensor, i: number, timesteps: number[], clamp: boolean, noiseNext?: Tensor): Tensor {
    const gpu = this.gpu;
    const s = this.schedule;
    const t = timesteps[i];
    let x0 = axpby(gpu, s.cOut[t], out, s.cSkip[t], x, 'x0');
    out.release();
    x.release();
    if (clamp) {
      const clamped = clampTensor(gpu, x0, -1, 1, 'x0.clamp');
      x0.release();
      x0 = clamped;
    }
    if (i === timesteps.length - 1) return x0;
    if (!noiseNext) throw new Error(`decode: no noise for step ${i + 1}`);
    const next = timesteps[i + 1];
    const xNext = axpby(gpu, s.sqrtAlphasCumprod[next], x0, s.sqrtOneMinusAlphasCumprod[next], noiseNext, `x_t_${i + 1}`);
    x0.release();
    noiseNext.release();
    return xNext;
  }

  /** The clamp to use: the option, else the checkpoint's default (OpenAI's decoder.pt clamps). */
  resolveClamp(opts: ConsistencyDecodeOptions): boolean {
    return opts.clamp ?? this.config.default_clamp ?? false;
  }

  resolveTimesteps(opts: ConsistencyDecodeOptions): number[] {
    const ts = opts.timesteps ?? timestepsForSteps(opts.steps ?? 2);
    if (ts.length < 1) throw new Error('decode: at least one timestep is needed');
    ts.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= this.schedule.cIn.length) throw new Error(`decode: timestep ${t} is not an integer in [0, ${this.schedule.cIn.length})`);
      if (i && t >= ts[i - 1]) throw new Error(`decode: timesteps must strictly decrease, got [${ts}]`);
    });
    return ts;
  }

  /** One NCHW noise array per step, full size: given, or drawn from the torch-compatible generator. */
  drawNoise(opts: ConsistencyDecodeOptions, steps: number, shape: [number, number, number, number]): Float32Array[] {
    if (opts.noise && opts.seed !== undefined) throw new Error('decode: give either noise or seed, not both');
    const size = shape.reduce((a, b) => a * b, 1);
    if (opts.noise) {
      if (opts.noise.length !== steps) throw new Error(`decode: ${opts.noise.length} noise tensors for ${steps} steps (one per step)`);
      opts.noise.forEach((a, i) => {
        if (a.length !== size) throw new Error(`decode: noise ${i} has ${a.length} values, expected [${shape}] = ${size}`);
      });
      return opts.noise;
    }
    if (this.gpu.dryRun) return Array.from({ length: steps }, () => new Float32Array(size)); // a plan reads no values
    const g = new TorchGenerator(opts.seed ?? 0);
    return Array.from({ length: steps }, () => g.randn(shape));
  }

  /** An NCHW noise array -> NHWC tensor. */
  uploadNoise(a: Float32Array, shape: [number, number, number, number], i: number): Tensor {
    const [n, c, h, w] = shape;
    return this.gpu.upload(nchwToNhwc(a, shape), [n, h, w, c], `noise_${i}`);
  }

  release(): void {
    this.encoder?.release();
    this.quant_conv?.release();
    this.decoder_unet.release();
  }
}

/** diffusers ConsistencyDecoderVAE config.json -> the encoder's and the UNet's configs. */
export function parseConsistencyConfig(raw: Record<string, unknown>, file: string): ConsistencyDecoderConfig {
  const get = <T>(k: string, d?: T): T => {
    const v = raw[k] ?? d;
    if (v === undefined) throw new Error(`${file}: missing "${k}"`);
    return v as T;
  };
  if (raw._class_name && raw._class_name !== 'ConsistencyDecoderVAE') throw new Error(`${file}: _class_name is ${raw._class_name}, expected ConsistencyDecoderVAE`);
  const check = (k: string, want: unknown) => {
    if (raw[k] !== undefined && JSON.stringify(raw[k]) !== JSON.stringify(want)) throw new Error(`${file}: ${k} = ${JSON.stringify(raw[k])} is not supported (expected ${JSON.stringify(want)})`);
  };
  check('decoder_time_embedding_type', 'learned');
  check('decoder_resnet_time_scale_shift', 'scale_shift');
  check('decoder_add_attention', false);
  check('encoder_act_fn', 'silu');
  const latent = get<number>('latent_channels', 4);
  const encoderChannels = get<number[]>('encoder_block_out_channels');
  const fromOpenAI = raw._source === 'openai-decoder.pt'; // synthesized by src/io/openai_decoder.ts
  return {
    has_encoder: !fromOpenAI,
    default_clamp: fromOpenAI,
    latent_channels: latent,
    scaling_factor: get<number>('scaling_factor', 0.18215),
    force_upcast: get<boolean>('force_upcast', false) === true,
    encoder: {
      in_channels: get<number>('encoder_in_channels', 3),
      out_channels: 3,
      block_out_channels: encoderChannels,
      layers_per_block: get<number>('encoder_layers_per_block', 2),
      latent_channels: latent,
      norm_num_groups: get<number>('encoder_norm_num_groups', 32),
      scaling_factor: get<number>('scaling_factor', 0.18215),
    },
    unet: {
      in_channels: get<number>('decoder_in_channels', 7),
      out_channels: get<number>('decoder_out_channels', 6),
      block_out_channels: get<number[]>('decoder_block_out_channels'),
      layers_per_block: get<number>('decoder_layers_per_block', 3),
      norm_num_groups: get<number>('decoder_norm_num_groups', 32),
      norm_eps: get<number>('decoder_norm_eps', 1e-5),
      num_train_timesteps: get<number>('decoder_num_train_timesteps', 1024),
    },
  };
}
