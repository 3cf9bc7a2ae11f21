// ResnetBlock2D, as diffusers builds it for the VAE ("default", no time embedding) and for the
// consistency decoder's UNet ("scale_shift" time embedding, optional avg-pool down / nearest up).
// Mirrors diffusers 0.27.2 src/diffusers/models/resnet.py, ResnetBlock2D.forward:
//
//   h = silu(norm1(x))
//   if up:   x, h = upsample2x(x), upsample2x(h)        (nearest)
//   if down: x, h = avgpool2x2(x), avgpool2x2(h)
//   h = conv1(h)
//   default:     h = silu(norm2(h))
//   scale_shift: scale, shift = time_emb_proj(silu(temb)).chunk(2); h = silu(norm2(h) * (1 + scale) + shift)
//   h = conv2(h)
//   y = (conv_shortcut(x) if in != out else x) + h        (output_scale_factor is 1 in these models)

import type { Tensor } from '../gpu/tensor.js';
import { avgPool2x2 } from '../kernels/avg_pool.js';
import { addInPlace } from '../kernels/elementwise.js';
import { upsampleNearest } from '../kernels/upsample.js';
import { emit, type RunContext } from './context.js';
import { Conv2d, GroupNorm, Linear } from './layers.js';
import type { ParamLoader } from './params.js';

export interface ResnetConfig {
  inChannels: number;
  outChannels: number;
  groups: number;
  eps: number;
  /** Present for "scale_shift" blocks (the UNet), absent for the VAE. */
  tembChannels?: number;
  up?: boolean;
  down?: boolean;
  outputScaleFactor?: number;
}

export class ResnetBlock2D {
  readonly path: string;
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly time_emb_proj?: Linear;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly conv_shortcut?: Conv2d;

  constructor(ctx: RunContext, p: ParamLoader, readonly cfg: ResnetConfig) {
    const { gpu } = ctx;
    const { inChannels: cin, outChannels: cout, groups, eps } = cfg;
    this.path = p.prefix.slice(0, -1);
    this.norm1 = new GroupNorm(gpu, p.sub('norm1'), cin, groups, eps);
    this.conv1 = new Conv2d(gpu, p.sub('conv1'), cin, cout, 3, { padding: [1, 1, 1, 1] });
    if (cfg.tembChannels) this.time_emb_proj = new Linear(gpu, p.sub('time_emb_proj'), cfg.tembChannels, 2 * cout);
    this.norm2 = new GroupNorm(gpu, p.sub('norm2'), cout, groups, eps);
    this.conv2 = new Conv2d(gpu, p.sub('conv2'), cout, cout, 3, { padding: [1, 1, 1, 1] });
    if (cin !== cout) this.conv_shortcut = new Conv2d(gpu, p.sub('conv_shortcut'), cin, cout, 1);
  }

  /**
   * x [N, H, W, Cin] -> [N, H', W', Cout]. `tembSilu` is silu(emb) [N, tembChannels], computed once
   * per UNet call by the caller (every resnet applies the same SiLU to the same emb).
   */
  forward(ctx: RunContext, x: Tensor, tembSilu?: Tensor): Tensor {
    const { gpu } = ctx;
    const L = this.path;
    let h = this.norm1.forward(gpu, x, `${L}.norm1`, { silu: true });
    const resample = (t: Tensor, what: string) => (this.cfg.up ? upsampleNearest(gpu, t, 2, `${L}.${what}`) : avgPool2x2(gpu, t, `${L}.${what}`));
    if (this.cfg.up || this.cfg.down) {
      const h2 = resample(h, this.cfg.up ? 'upsample' : 'downsample');
      h.release();
      h = h2;
    }
    const h1 = this.conv1.forward(gpu, h, `${L}.conv1`);
    h.release();
    let scaleShift: Tensor | undefined;
    if (this.time_emb_proj) {
      if (!tembSilu) throw new Error(`${L}: this scale_shift block needs a time embedding`);
      scaleShift = this.time_emb_proj.forward(gpu, tembSilu, `${L}.time_emb_proj`);
    }
    const h2 = this.norm2.forward(gpu, h1, `${L}.norm2`, { silu: true, scaleShift });
    h1.release();
    scaleShift?.release();
    const h3 = this.conv2.forward(gpu, h2, `${L}.conv2`);
    h2.release();
    // The resampled x is made only now, when the sum needs it, so that it is not alive (2x-4x the
    // size of x when upsampling) beside h, conv1's output and conv2's.
    const skip = this.cfg.up || this.cfg.down ? resample(x, this.cfg.up ? 'upsample(x)' : 'downsample(x)') : x;
    const shortcut = this.conv_shortcut ? this.conv_shortcut.forward(gpu, skip, `${L}.conv_shortcut`) : skip;
    // h3 has no other reader: the sum overwrites it (h3 + shortcut: the same rounding as shortcut + h3).
    const y = addInPlace(gpu, h3, shortcut, this.cfg.outputScaleFactor ?? 1, `${L}.add`);
    if (shortcut !== skip) shortcut.release();
    if (skip !== x) skip.release();
    emit(ctx, L, y);
    return y;
  }

  release(): void {
    for (const m of [this.norm1, this.conv1, this.time_emb_proj, this.norm2, this.conv2, this.conv_shortcut]) m?.release();
  }
}
