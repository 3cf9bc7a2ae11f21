// UNet2DModel as the consistency decoder configures it (`decoder_unet`). Mirrors diffusers 0.27.2
//   src/diffusers/models/unets/unet_2d.py         UNet2DModel (learned time embedding)
//   src/diffusers/models/unets/unet_2d_blocks.py  ResnetDownsampleBlock2D, ResnetUpsampleBlock2D, UNetMidBlock2D
//
//   emb  = time_embedding(time_proj[t])                                   [N, 4·C0]
//   h    = conv_in(x)                  skips = [h]                        x: [N, H, W, 7]
//   down: per level, resnets (skips += each), then (not last) a down=True resnet (avg-pool 2x2; skips += it)
//   mid:  two scale_shift resnets (no attention)
//   up:   per level, resnets over cat([h, skips.pop()]) (hidden first), then (not last) an up=True resnet
//   out  = conv_out(silu(conv_norm_out(h)))                               [N, H, W, 6]
//
// For the real decoder (C = [320, 640, 1024, 1024], 3 layers) at 512x512 output the skip stack holds
// 4 tensors of 320 channels at full resolution. Each skip is released right after its concat.

import type { Tensor } from '../gpu/tensor.js';
import { concatChannels } from '../kernels/concat.js';
import { silu } from '../kernels/elementwise.js';
import { emit, type RunContext } from './context.js';
import { LearnedTimeProj, TimestepEmbedding } from './embeddings.js';
import { Conv2d, GroupNorm, normSiluTapped } from './layers.js';
import type { ParamLoader } from './params.js';
import { ResnetBlock2D, type ResnetConfig } from './resnet.js';

export interface UNet2DConfig {
  in_channels: number;
  out_channels: number;
  block_out_channels: number[];
  layers_per_block: number;
  norm_num_groups: number;
  norm_eps: number;
  num_train_timesteps: number;
}

class ResnetDownsampleBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly downsamplers: ResnetBlock2D[];
  constructor(ctx: RunContext, p: ParamLoader, cin: number, cout: number, layers: number, base: Omit<ResnetConfig, 'inChannels' | 'outChannels'>, addDownsample: boolean, readonly path = p.prefix.slice(0, -1)) {
    this.resnets = Array.from({ length: layers }, (_, i) => new ResnetBlock2D(ctx, p.sub('resnets').sub(i), { ...base, inChannels: i ? cout : cin, outChannels: cout }));
    this.downsamplers = addDownsample ? [new ResnetBlock2D(ctx, p.sub('downsamplers').sub(0), { ...base, inChannels: cout, outChannels: cout, down: true })] : [];
  }
  /** Returns the output; pushes every intermediate onto `skips` (which then owns them). */
  forward(ctx: RunContext, x: Tensor, emb: Tensor, skips: Tensor[]): Tensor {
    let h = x;
    for (const r of [...this.resnets, ...this.downsamplers]) {
      h = r.forward(ctx, h, emb);
      skips.push(h);
    }
    emit(ctx, this.path, h);
    return h;
  }
  release(): void {
    for (const r of [...this.resnets, ...this.downsamplers]) r.release();
  }
}

class ResnetUpsampleBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly upsamplers: ResnetBlock2D[];
  constructor(ctx: RunContext, p: ParamLoader, cin: number, cout: number, prevOut: number, layers: number, base: Omit<ResnetConfig, 'inChannels' | 'outChannels'>, addUpsample: boolean, readonly path = p.prefix.slice(0, -1)) {
    this.resnets = Array.from({ length: layers }, (_, i) => {
      const skip = i === layers - 1 ? cin : cout;
      const hidden = i === 0 ? prevOut : cout;
      return new ResnetBlock2D(ctx, p.sub('resnets').sub(i), { ...base, inChannels: hidden + skip, outChannels: cout });
    });
    this.upsamplers = addUpsample ? [new ResnetBlock2D(ctx, p.sub('upsamplers').sub(0), { ...base, inChannels: cout, outChannels: cout, up: true })] : [];
  }
  /** Consumes (and releases) one skip per resnet; releases `x` only if it is not a skip. */
  forward(ctx: RunContext, x: Tensor, emb: Tensor, skips: Tensor[]): Tensor {
    let h = x;
    for (const r of this.resnets) {
      const skip = skips.pop()!;
      const cat = concatChannels(ctx.gpu, h, skip, `${r.path}.cat`); // hidden first, then skip
      skip.release();
      h.release();
      h = r.forward(ctx, cat, emb);
      cat.release();
    }
    for (const u of this.upsamplers) {
      const next = u.forward(ctx, h, emb);
      h.release();
      h = next;
    }
    emit(ctx, this.path, h);
    return h;
  }
  release(): void {
    for (const r of [...this.resnets, ...this.upsamplers]) r.release();
  }
}

export class UNet2DModel {
  readonly time_proj: LearnedTimeProj;
  readonly time_embedding: TimestepEmbedding;
  readonly conv_in: Conv2d;
  readonly down_blocks: ResnetDownsampleBlock2D[];
  readonly mid_block: { resnets: ResnetBlock2D[] };
  readonly up_blocks: ResnetUpsampleBlock2D[];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  readonly path: string;

  constructor(ctx: RunContext, p: ParamLoader, readonly cfg: UNet2DConfig) {
    const { gpu } = ctx;
    this.path = p.prefix.slice(0, -1);
    const ch = cfg.block_out_channels;
    const embDim = 4 * ch[0];
    const base = { groups: cfg.norm_num_groups, eps: cfg.norm_eps, tembChannels: embDim };
    this.time_proj = new LearnedTimeProj(ctx, p.sub('time_proj'), cfg.num_train_timesteps, ch[0]);
    this.time_embedding = new TimestepEmbedding(ctx, p.sub('time_embedding'), ch[0], embDim);
    this.conv_in = new Conv2d(gpu, p.sub('conv_in'), cfg.in_channels, ch[0], 3, { padding: [1, 1, 1, 1] });
    this.down_blocks = ch.map((out, i) => new ResnetDownsampleBlock2D(ctx, p.sub('down_blocks').sub(i), i ? ch[i - 1] : ch[0], out, cfg.layers_per_block, base, i < ch.length - 1));
    const last = ch[ch.length - 1];
    const mid = p.sub('mid_block').sub('resnets');
    this.mid_block = { resnets: [0, 1].map((i) => new ResnetBlock2D(ctx, mid.sub(i), { ...base, inChannels: last, outChannels: last })) };
    const rev = [...ch].reverse();
    this.up_blocks = rev.map((out, i) =>
      new ResnetUpsampleBlock2D(ctx, p.sub('up_blocks').sub(i), rev[Math.min(i + 1, rev.length - 1)], out, i ? rev[i - 1] : rev[0], cfg.layers_per_block + 1, base, i < rev.length - 1),
    );
    this.conv_norm_out = new GroupNorm(gpu, p.sub('conv_norm_out'), ch[0], cfg.norm_num_groups, cfg.norm_eps);
    this.conv_out = new Conv2d(gpu, p.sub('conv_out'), ch[0], cfg.out_channels, 3, { padding: [1, 1, 1, 1] });
  }

  /** x [N, H, W, in] at integer timestep t (the same for the whole batch) -> [N, H, W, out]. */
  forward(ctx: RunContext, x: Tensor, t: number): Tensor {
    const { gpu } = ctx;
    const P = this.path;
    const n = x.shape[0];
    const tEmb = this.time_proj.forward(ctx, Array(n).fill(t)); // [N, C0]
    const emb = this.time_embedding.forward(ctx, tEmb); // [N, 4·C0]
    tEmb.release();
    const embSilu = silu(gpu, emb, `${P}.emb_silu`); // every resnet's time_emb_proj takes silu(emb)
    emb.release();

    const skips: Tensor[] = [this.conv_in.forward(gpu, x, `${P}.conv_in`)];
    let h = skips[0];
    emit(ctx, `${P}.conv_in`, h);
    for (const block of this.down_blocks) h = block.forward(ctx, h, embSilu, skips);
    const m0 = this.mid_block.resnets[0].forward(ctx, h, embSilu); // h is the last skip: kept for the up path
    h = this.mid_block.resnets[1].forward(ctx, m0, embSilu);
    m0.release();
    emit(ctx, `${P}.mid_block`, h);
    for (const block of this.up_blocks) h = block.forward(ctx, h, embSilu, skips);
    embSilu.release();
    const normed = normSiluTapped(ctx, this.conv_norm_out, h, `${P}.conv_norm_out`);
    h.release();
    const out = this.conv_out.forward(gpu, normed, `${P}.conv_out`);
    normed.release();
    emit(ctx, `${P}.conv_out`, out);
    return out;
  }

  release(): void {
    for (const m of [this.time_proj, this.time_embedding, this.conv_in, ...this.down_blocks, ...this.mid_block.resnets, ...this.up_blocks, this.conv_norm_out, this.conv_out]) m.release();
  }
}
