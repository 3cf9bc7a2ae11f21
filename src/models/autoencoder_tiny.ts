// AutoencoderTiny: madebyollin's TAESD, a small encoder/decoder for the SD latent space. Mirrors
// diffusers 0.27.2
//   src/diffusers/models/autoencoders/autoencoder_tiny.py   AutoencoderTiny
//   src/diffusers/models/autoencoders/vae.py                EncoderTiny, DecoderTiny
//   src/diffusers/models/unets/unet_2d_blocks.py            AutoencoderTinyBlock
//
// No norms, no attention: 3x3 convs, ReLU, nearest 2x upsampling, stride-2 convs without bias. Both
// halves are one nn.Sequential (`encoder.layers.N`, `decoder.layers.N`); for the default config
// (64 channels, encoder blocks [1, 3, 3, 3], decoder blocks [3, 3, 3, 1]) and a 512x512 image, NHWC:
//   encode: [1,512,512,3] -(x+1)/2, conv-> [1,512,512,64] -block, (stride-2 conv, 3 blocks) x3->
//           [1,64,64,64] -conv-> latents [1,64,64,4]
//   decode: [1,64,64,4] -tanh(x/3)*3, conv, ReLU-> [1,64,64,64] -(3 blocks, 2x up, conv) x3, block->
//           [1,512,512,64] -conv-> [1,512,512,3] -x*2-1-> image in [-1, 1]
//
// Latents: TAESD reads and writes the SD latent *already multiplied* by the SD VAE's 0.18215 (its own
// scaling_factor is 1.0, which pipelines apply; latent_shift/latent_magnitude only serve storing
// latents as 8-bit images and are not used here).
//
// One ReLU module is shared: diffusers' get_activation returns a global nn.ReLU instance, so
// DecoderTiny's `layers.1` is the same module as the activations inside every AutoencoderTinyBlock.
// Its output as seen by a hook (the io file's `decoder.layers.1` tap) is its last call, inside the
// last block; every use emits under that one path, and the last emit wins, as the hook's does.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { conv2d, Conv2dWeight, type Conv2dOptions } from '../kernels/conv2d.js';
import { addRelu, affine, relu, tanhClamp } from '../kernels/elementwise.js';
import { upsampleNearest } from '../kernels/upsample.js';
import { emit, type RunContext } from './context.js';
import { plannedRun } from './planned.js';
import { loadFromCheckpoint, loadFromSource, type LoadOptions, type ModelSource, type ParamLoader } from './params.js';
import { rawToF32 } from '../kernels/weight_format.js';

export interface AutoencoderTinyConfig {
  in_channels: number;
  out_channels: number;
  encoder_block_out_channels: number[];
  decoder_block_out_channels: number[];
  num_encoder_blocks: number[];
  num_decoder_blocks: number[];
  latent_channels: number;
  upsampling_scaling_factor: number;
  act_fn: string;
  scaling_factor: number;
}

/** Checks a config.json for the structure these classes implement; names the field that differs. */
export function parseAutoencoderTinyConfig(raw: Record<string, unknown>, file: string): AutoencoderTinyConfig {
  const cfg = {
    in_channels: 3, out_channels: 3, latent_channels: 4, upsampling_scaling_factor: 2, act_fn: 'relu', scaling_factor: 1.0,
    encoder_block_out_channels: [64, 64, 64, 64], decoder_block_out_channels: [64, 64, 64, 64],
    num_encoder_blocks: [1, 3, 3, 3], num_decoder_blocks: [3, 3, 3, 1], ...raw,
  } as AutoencoderTinyConfig;
  const bad = (what: string) => new Error(`${file}: ${what}`);
  const ints = (name: keyof AutoencoderTinyConfig, min: number) => {
    const v = cfg[name];
    if (!Array.isArray(v) || v.length < 1 || !v.every((c) => Number.isInteger(c) && c >= min)) throw bad(`${name} must be a list of integers >= ${min}`);
    return v;
  };
  const enc = ints('encoder_block_out_channels', 1);
  const dec = ints('decoder_block_out_channels', 1);
  if (ints('num_encoder_blocks', 0).length !== enc.length) throw bad(`num_encoder_blocks has ${cfg.num_encoder_blocks.length} entries, encoder_block_out_channels ${enc.length}`);
  if (ints('num_decoder_blocks', 0).length !== dec.length) throw bad(`num_decoder_blocks has ${cfg.num_decoder_blocks.length} entries, decoder_block_out_channels ${dec.length}`);
  // A stride-2 conv keeps its channels (diffusers builds it with block_out_channels[i] in and out).
  for (let i = 1; i < enc.length; i++) if (enc[i] !== enc[i - 1]) throw bad(`encoder_block_out_channels ${enc} must all be equal (diffusers' stride-2 convs keep the channel count)`);
  if (String(cfg.act_fn).toLowerCase() !== 'relu') throw bad(`act_fn ${cfg.act_fn} (only relu is supported)`);
  if (cfg.upsampling_scaling_factor !== 2) throw bad(`upsampling_scaling_factor ${cfg.upsampling_scaling_factor} (only 2 is supported)`);
  return cfg;
}

const PAD1 = [1, 1, 1, 1] as const;

/** nn.Conv2d, with or without a bias (the stride-2 and upsampling convs have none). */
class Conv {
  readonly weight: Conv2dWeight;
  constructor(gpu: Gpu, p: ParamLoader, cin: number, cout: number, k: number, bias: boolean, readonly opts: Conv2dOptions) {
    const shape = [cout, cin, k, k];
    this.weight = Conv2dWeight.allocate(gpu, shape, p.formatOf('weight'), p.prefix.slice(0, -1));
    const specs: [string, number[]][] = bias ? [['weight', shape], ['bias', [cout]]] : [['weight', shape]];
    p.read(specs, ([w, b]) => this.weight.fill(gpu, w, b ? rawToF32(b) : null));
  }
  forward(ctx: RunContext, x: Tensor, path: string): Tensor {
    return conv2d(ctx.gpu, x, this.weight, this.opts, path);
  }
  release(): void {
    this.weight.release();
  }
}

/** fuse(conv(x) + skip(x)): conv = Conv3x3, ReLU, Conv3x3, ReLU, Conv3x3; skip = 1x1 conv (no bias) or identity. */
export class AutoencoderTinyBlock {
  readonly conv: [Conv, Conv, Conv];
  readonly skip: Conv | null;

  /** `actPath`: where the shared ReLU's outputs are emitted (see the file header). */
  constructor(gpu: Gpu, p: ParamLoader, cin: number, cout: number, readonly path: string, readonly actPath: string) {
    const c = p.sub('conv');
    this.conv = [new Conv(gpu, c.sub(0), cin, cout, 3, true, { padding: PAD1 }), new Conv(gpu, c.sub(2), cout, cout, 3, true, { padding: PAD1 }), new Conv(gpu, c.sub(4), cout, cout, 3, true, { padding: PAD1 })];
    this.skip = cin === cout ? null : new Conv(gpu, p.sub('skip'), cin, cout, 1, false, {});
  }

  forward(ctx: RunContext, x: Tensor): Tensor {
    let h = x;
    for (const [i, conv] of this.conv.entries()) {
      const y = conv.forward(ctx, h, `${this.path}.conv.${2 * i}`); // [N, H, W, Cout]
      if (h !== x) h.release();
      if (i === 2) {
        h = y;
        break;
      }
      h = relu(ctx.gpu, y, `${this.path}.conv.${2 * i + 1}`);
      y.release();
      emitLast(ctx, this.actPath, h);
    }
    const skip = this.skip ? this.skip.forward(ctx, x, `${this.path}.skip`) : x;
    const out = addRelu(ctx.gpu, h, skip, `${this.path}.fuse`);
    h.release();
    if (skip !== x) skip.release();
    emit(ctx, this.path, out);
    return out;
  }

  release(): void {
    for (const m of [...this.conv, this.skip]) m?.release();
  }
}

/**
 * emit for the shared ReLU: the tap keeps its last output and moves to the end of the execution
 * order, so the first diverging tap is still found where its last call ran.
 */
function emitLast(ctx: RunContext, path: string, t: Tensor): void {
  const old = ctx.taps?.get(path);
  if (old) {
    old.release();
    ctx.taps!.delete(path);
  }
  emit(ctx, path, t);
}

/** One entry of a Sequential: a module, or a parameter-free op (ReLU, Upsample). */
type Layer = Conv | AutoencoderTinyBlock | 'relu' | 'upsample';

/** Runs a Sequential, emitting `${prefix}.N` after each entry (a block emits its own path). */
function runLayers(ctx: RunContext, layers: Layer[], prefix: string, x: Tensor): Tensor {
  let h = x;
  for (const [i, layer] of layers.entries()) {
    const path = `${prefix}.${i}`;
    const y =
      layer === 'relu' ? relu(ctx.gpu, h, path)
      : layer === 'upsample' ? upsampleNearest(ctx.gpu, h, 2, path)
      : layer instanceof Conv ? layer.forward(ctx, h, path)
      : layer.forward(ctx, h);
    if (h !== x) h.release();
    h = y;
    if (layer === 'relu') emitLast(ctx, path, h);
    else if (!(layer instanceof AutoencoderTinyBlock)) emit(ctx, path, h);
  }
  return h;
}

export class EncoderTiny {
  readonly layers: Layer[] = [];

  constructor(gpu: Gpu, p: ParamLoader, cfg: AutoencoderTinyConfig) {
    const ch = cfg.encoder_block_out_channels;
    const l = p.sub('layers');
    const add = (make: (i: number) => Layer) => this.layers.push(make(this.layers.length));
    cfg.num_encoder_blocks.forEach((blocks, i) => {
      // The first conv takes the image; every later level starts with a stride-2 conv without bias.
      if (i === 0) add((n) => new Conv(gpu, l.sub(n), cfg.in_channels, ch[0], 3, true, { padding: PAD1 }));
      else add((n) => new Conv(gpu, l.sub(n), ch[i], ch[i], 3, false, { padding: PAD1, stride: 2 }));
      for (let b = 0; b < blocks; b++) add((n) => new AutoencoderTinyBlock(gpu, l.sub(n), ch[i], ch[i], `encoder.layers.${n}`, `encoder.layers.${n}.conv.act`));
    });
    add((n) => new Conv(gpu, l.sub(n), ch[ch.length - 1], cfg.latent_channels, 3, true, { padding: PAD1 }));
  }

  /** image [N, H, W, 3] in [-1, 1] -> latents [N, H/8, W/8, 4] (SD latent × 0.18215). */
  forward(ctx: RunContext, x: Tensor): Tensor {
    const unit = affine(ctx.gpu, x, 0.5, 0.5, 'encoder.rescale'); // [-1, 1] -> [0, 1], TAESD's convention
    const y = runLayers(ctx, this.layers, 'encoder.layers', unit);
    unit.release();
    return y;
  }

  release(): void {
    for (const m of this.layers) if (typeof m !== 'string') m.release();
  }
}

export class DecoderTiny {
  readonly layers: Layer[] = [];

  constructor(gpu: Gpu, p: ParamLoader, cfg: AutoencoderTinyConfig) {
    const ch = cfg.decoder_block_out_channels;
    const l = p.sub('layers');
    const add = (make: (i: number) => Layer) => this.layers.push(make(this.layers.length));
    add((n) => new Conv(gpu, l.sub(n), cfg.latent_channels, ch[0], 3, true, { padding: PAD1 }));
    add(() => 'relu');
    cfg.num_decoder_blocks.forEach((blocks, i) => {
      const last = i === ch.length - 1;
      const cin = ch[i];
      // The shared ReLU is decoder.layers.1 (see the file header).
      for (let b = 0; b < blocks; b++) add((n) => new AutoencoderTinyBlock(gpu, l.sub(n), cin, cin, `decoder.layers.${n}`, 'decoder.layers.1'));
      if (!last) add(() => 'upsample');
      // Only the final conv (to RGB) has a bias.
      add((n) => (last ? new Conv(gpu, l.sub(n), cin, cfg.out_channels, 3, true, { padding: PAD1 }) : new Conv(gpu, l.sub(n), cin, cin, 3, false, { padding: PAD1 })));
    });
  }

  /** latent [N, h, w, 4] (SD latent × 0.18215) -> image [N, 8h, 8w, 3] in [-1, 1]. */
  forward(ctx: RunContext, z: Tensor): Tensor {
    const clamped = tanhClamp(ctx.gpu, z, 3, 'decoder.clamp'); // tanh(z / 3) * 3
    const y = runLayers(ctx, this.layers, 'decoder.layers', clamped);
    clamped.release();
    const image = affine(ctx.gpu, y, 2, -1, 'decoder.rescale'); // [0, 1] -> [-1, 1]
    y.release();
    return image;
  }

  release(): void {
    for (const m of this.layers) if (typeof m !== 'string') m.release();
  }
}

export class AutoencoderTiny {
  readonly encoder: EncoderTiny;
  readonly decoder: DecoderTiny;

  constructor(readonly gpu: Gpu, p: ParamLoader, readonly config: AutoencoderTinyConfig) {
    this.encoder = new EncoderTiny(gpu, p.sub('encoder'), config);
    this.decoder = new DecoderTiny(gpu, p.sub('decoder'), config);
  }

  /** Loads a diffusers folder (config.json with _class_name AutoencoderTiny + safetensors). Node only. */
  static async load(gpu: Gpu, path: string, opts: LoadOptions = {}): Promise<AutoencoderTiny> {
    return loadFromCheckpoint(path, (p, raw, file) => new AutoencoderTiny(gpu, p, parseAutoencoderTinyConfig(raw, file)), () => gpu.sync(), opts);
  }

  /** From any source of named tensors (e.g. fetched over HTTP in a browser). */
  static async fromSource(gpu: Gpu, src: ModelSource, opts: LoadOptions = {}): Promise<AutoencoderTiny> {
    return loadFromSource(src, (p, raw, file) => new AutoencoderTiny(gpu, p, parseAutoencoderTinyConfig(raw, file)), () => gpu.sync(), opts);
  }

  /** Image sides must be multiples of this (one halving per level after the first: 8). */
  get downscale(): number {
    return 2 ** (this.config.encoder_block_out_channels.length - 1);
  }

  /**
   * The SD VAE scaling factor of the latents TAESD reads and writes: its inputs and outputs are SD
   * latents already multiplied by 0.18215 (TAESD was trained on them; config.scaling_factor is 1.0).
   */
  readonly sdScalingFactor = 0.18215;

  /** image [N, H, W, 3] in [-1, 1] -> latents [N, H/8, W/8, 4], already scaled (SD latent × 0.18215). */
  encode(image: Tensor, ctx: RunContext = { gpu: this.gpu }): Tensor {
    const [n, h, w, c] = image.shape;
    if (image.shape.length !== 4 || c !== this.config.in_channels) throw new Error(`encode: image [${image.shape}] must be NHWC with ${this.config.in_channels} channels`);
    if (n < 1 || !h || !w || h % this.downscale || w % this.downscale) throw new Error(`encode: image is ${w}x${h}; both sides must be positive multiples of ${this.downscale}`);
    return plannedRun(this.gpu, this, `encode [${image.shape}]`, () => this.encoder.forward(ctx, image), (y) => y.release());
  }

  /** latents [N, h, w, 4] (SD latent × 0.18215) -> image [N, 8h, 8w, 3] in [-1, 1]. */
  decode(latent: Tensor, ctx: RunContext = { gpu: this.gpu }): Tensor {
    if (latent.shape.length !== 4 || latent.shape[3] !== this.config.latent_channels)
      throw new Error(`decode: latent [${latent.shape}] (NHWC) must have ${this.config.latent_channels} channels`);
    return plannedRun(this.gpu, this, `decode [${latent.shape}]`, () => this.decoder.forward(ctx, latent), (y) => y.release());
  }

  release(): void {
    this.encoder.release();
    this.decoder.release();
  }
}
