// The SD VAE's blocks, mirroring diffusers 0.27.2:
//   src/diffusers/models/downsampling.py  Downsample2D (use_conv=True, padding=0)
//   src/diffusers/models/upsampling.py    Upsample2D (use_conv=True)
//   src/diffusers/models/unets/unet_2d_blocks.py  DownEncoderBlock2D, UpDecoderBlock2D, UNetMidBlock2D
// Field names equal the checkpoint keys (`down_blocks.0.resnets.1.conv1.weight`).

import type { Tensor } from '../gpu/tensor.js';
import { upsampleNearest } from '../kernels/upsample.js';
import { Attention } from './attention.js';
import { emit, type RunContext } from './context.js';
import { Conv2d } from './layers.js';
import type { ParamLoader } from './params.js';
import { ResnetBlock2D } from './resnet.js';

/** F.pad(x, (0, 1, 0, 1)) then a 3x3 conv with stride 2: one zero column right, one zero row at the bottom. */
export class Downsample2D {
  readonly conv: Conv2d;
  constructor(ctx: RunContext, p: ParamLoader, channels: number) {
    this.conv = new Conv2d(ctx.gpu, p.sub('conv'), channels, channels, 3, { stride: 2, padding: [0, 1, 0, 1] });
  }
  forward(ctx: RunContext, x: Tensor, path: string): Tensor {
    return this.conv.forward(ctx.gpu, x, `${path}.conv`);
  }
  release(): void {
    this.conv.release();
  }
}

/** Nearest 2x, then a 3x3 conv with padding 1. */
export class Upsample2D {
  readonly conv: Conv2d;
  constructor(ctx: RunContext, p: ParamLoader, channels: number) {
    this.conv = new Conv2d(ctx.gpu, p.sub('conv'), channels, channels, 3, { padding: [1, 1, 1, 1] });
  }
  forward(ctx: RunContext, x: Tensor, path: string): Tensor {
    const up = upsampleNearest(ctx.gpu, x, 2, `${path}.interpolate`); // [N, 2H, 2W, C]
    const y = this.conv.forward(ctx.gpu, up, `${path}.conv`);
    up.release();
    return y;
  }
  release(): void {
    this.conv.release();
  }
}

interface BlockConfig {
  inChannels: number;
  outChannels: number;
  numLayers: number;
  groups: number;
  eps: number;
}

/**
 * Runs resnets in sequence, releasing each intermediate, and the block's input too when `consume`:
 * as soon as the first resnet has read it, so it is not held through the whole block (at the SD VAE's
 * 512x512 decode peak that is 128 MiB; the arena packs what is live, so lifetimes are memory).
 */
function runResnets(ctx: RunContext, resnets: ResnetBlock2D[], x: Tensor, consume: boolean): Tensor {
  let h = x;
  for (const r of resnets) {
    const next = r.forward(ctx, h);
    if (h !== x || consume) h.release();
    h = next;
  }
  return h;
}

/** `numLayers` resnets, then (unless last) Downsample2D as `downsamplers.0`. */
export class DownEncoderBlock2D {
  readonly path: string;
  readonly resnets: ResnetBlock2D[];
  readonly downsamplers: Downsample2D[];
  constructor(ctx: RunContext, p: ParamLoader, cfg: BlockConfig & { addDownsample: boolean }) {
    this.path = p.prefix.slice(0, -1);
    this.resnets = Array.from({ length: cfg.numLayers }, (_, i) =>
      new ResnetBlock2D(ctx, p.sub('resnets').sub(i), { inChannels: i === 0 ? cfg.inChannels : cfg.outChannels, outChannels: cfg.outChannels, groups: cfg.groups, eps: cfg.eps }),
    );
    this.downsamplers = cfg.addDownsample ? [new Downsample2D(ctx, p.sub('downsamplers').sub(0), cfg.outChannels)] : [];
  }
  /** `consume`: release x once read (the caller gives it up). */
  forward(ctx: RunContext, x: Tensor, consume = false): Tensor {
    let h = runResnets(ctx, this.resnets, x, consume);
    for (const d of this.downsamplers) {
      const next = d.forward(ctx, h, `${this.path}.downsamplers.0`);
      if (h !== x) h.release();
      h = next;
    }
    emit(ctx, this.path, h);
    return h;
  }
  release(): void {
    for (const m of [...this.resnets, ...this.downsamplers]) m.release();
  }
}

/** `numLayers` (= layers_per_block + 1) resnets, then (unless last) Upsample2D as `upsamplers.0`. */
export class UpDecoderBlock2D {
  readonly path: string;
  readonly resnets: ResnetBlock2D[];
  readonly upsamplers: Upsample2D[];
  constructor(ctx: RunContext, p: ParamLoader, cfg: BlockConfig & { addUpsample: boolean }) {
    this.path = p.prefix.slice(0, -1);
    this.resnets = Array.from({ length: cfg.numLayers }, (_, i) =>
      new ResnetBlock2D(ctx, p.sub('resnets').sub(i), { inChannels: i === 0 ? cfg.inChannels : cfg.outChannels, outChannels: cfg.outChannels, groups: cfg.groups, eps: cfg.eps }),
    );
    this.upsamplers = cfg.addUpsample ? [new Upsample2D(ctx, p.sub('upsamplers').sub(0), cfg.outChannels)] : [];
  }
  /** `consume`: release x once read (the caller gives it up). */
  forward(ctx: RunContext, x: Tensor, consume = false): Tensor {
    let h = runResnets(ctx, this.resnets, x, consume);
    for (const u of this.upsamplers) {
      const next = u.forward(ctx, h, `${this.path}.upsamplers.0`);
      if (h !== x) h.release();
      h = next;
    }
    emit(ctx, this.path, h);
    return h;
  }
  release(): void {
    for (const m of [...this.resnets, ...this.upsamplers]) m.release();
  }
}

/** resnets.0 -> attentions.0 -> resnets.1 (the VAE's only attention). */
export class UNetMidBlock2D {
  readonly path: string;
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Attention[];
  constructor(ctx: RunContext, p: ParamLoader, channels: number, groups: number, eps: number) {
    this.path = p.prefix.slice(0, -1);
    const cfg = { inChannels: channels, outChannels: channels, groups, eps };
    this.resnets = [new ResnetBlock2D(ctx, p.sub('resnets').sub(0), cfg), new ResnetBlock2D(ctx, p.sub('resnets').sub(1), cfg)];
    this.attentions = [new Attention(ctx, p.sub('attentions').sub(0), { channels, groups, eps })];
  }
  /** `consume`: release x once read (the caller gives it up). */
  forward(ctx: RunContext, x: Tensor, consume = false): Tensor {
    const h0 = this.resnets[0].forward(ctx, x);
    if (consume) x.release();
    const h1 = this.attentions[0].forward(ctx, h0);
    h0.release();
    const y = this.resnets[1].forward(ctx, h1);
    h1.release();
    emit(ctx, this.path, y);
    return y;
  }
  release(): void {
    for (const m of [...this.resnets, ...this.attentions]) m.release();
  }
}
