// The consistency UNet's time embedding (UNet2DModel with time_embedding_type="learned"):
//
//   time_proj      = nn.Embedding(1024, C0)            t -> [C0]        (no sinusoids, flip or shift)
//   time_embedding = TimestepEmbedding(C0, 4·C0):      emb = linear_2(silu(linear_1(time_proj[t])))
//
// Mirrors diffusers 0.27.2 src/diffusers/models/embeddings.py (TimestepEmbedding) and
// unets/unet_2d.py (UNet2DModel.__init__/forward).

import type { Tensor } from '../gpu/tensor.js';
import { embedding } from '../kernels/embedding.js';
import { silu } from '../kernels/elementwise.js';
import { emit, type RunContext } from './context.js';
import { Linear } from './layers.js';
import type { ParamLoader } from './params.js';

export class TimestepEmbedding {
  readonly linear_1: Linear;
  readonly linear_2: Linear;
  constructor(ctx: RunContext, p: ParamLoader, readonly inChannels: number, readonly timeEmbedDim: number, readonly path = p.prefix.slice(0, -1)) {
    this.linear_1 = new Linear(ctx.gpu, p.sub('linear_1'), inChannels, timeEmbedDim);
    this.linear_2 = new Linear(ctx.gpu, p.sub('linear_2'), timeEmbedDim, timeEmbedDim);
  }
  /** x [B, in] -> [B, timeEmbedDim]. */
  forward(ctx: RunContext, x: Tensor): Tensor {
    const h = this.linear_1.forward(ctx.gpu, x, `${this.path}.linear_1`);
    const a = silu(ctx.gpu, h, `${this.path}.act`);
    h.release();
    const y = this.linear_2.forward(ctx.gpu, a, `${this.path}.linear_2`);
    a.release();
    emit(ctx, this.path, y);
    return y;
  }
  release(): void {
    this.linear_1.release();
    this.linear_2.release();
  }
}

/** nn.Embedding(num, dim) used as `time_proj`. */
export class LearnedTimeProj {
  readonly weight: Tensor;
  constructor(ctx: RunContext, p: ParamLoader, readonly num: number, readonly dim: number, readonly path = p.prefix.slice(0, -1)) {
    this.weight = ctx.gpu.empty([num, dim], `${path}.weight`, 'f32', true); // a small table: kept f32
    p.readF32('weight', [num, dim], (v) => ctx.gpu.writeBuffer(this.weight.buffer, this.weight.offset, v));
  }
  forward(ctx: RunContext, timesteps: readonly number[]): Tensor {
    const y = embedding(ctx.gpu, this.weight, timesteps, this.path);
    emit(ctx, this.path, y);
    return y;
  }
  release(): void {
    this.weight.release();
  }
}
