// The leaf modules (torch.nn.Conv2d, GroupNorm, Linear, Embedding) as parameter holders whose
// `forward` is one kernel call. Blocks are built from these, with diffusers' field names.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { conv2d, Conv2dWeight, type Conv2dOptions } from '../kernels/conv2d.js';
import { groupNorm } from '../kernels/group_norm.js';
import { linear, LinearWeight } from '../kernels/linear.js';
import type { ParamLoader } from './params.js';
import { rawToF32 } from '../kernels/weight_format.js';
import { silu } from '../kernels/elementwise.js';
import { emit, type RunContext } from './context.js';

export class Conv2d {
  readonly weight: Conv2dWeight;
  constructor(gpu: Gpu, p: ParamLoader, cin: number, cout: number, k: number, readonly opts: Conv2dOptions = {}) {
    const shape = [cout, cin, k, k];
    this.weight = Conv2dWeight.allocate(gpu, shape, p.formatOf('weight'), p.prefix.slice(0, -1));
    p.read([['weight', shape], ['bias', [cout]]], ([w, b]) => this.weight.fill(gpu, w, rawToF32(b)));
  }
  forward(gpu: Gpu, x: Tensor, label: string): Tensor {
    return conv2d(gpu, x, this.weight, this.opts, label);
  }
  release(): void {
    this.weight.release();
  }
}

export class GroupNorm {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(gpu: Gpu, p: ParamLoader, readonly channels: number, readonly groups: number, readonly eps: number) {
    const name = p.prefix.slice(0, -1);
    this.weight = gpu.empty([channels], `${name}.weight`, 'f32', true);
    this.bias = gpu.empty([channels], `${name}.bias`, 'f32', true);
    p.readF32('weight', [channels], (v) => gpu.writeBuffer(this.weight.buffer, this.weight.offset, v));
    p.readF32('bias', [channels], (v) => gpu.writeBuffer(this.bias.buffer, this.bias.offset, v));
  }
  forward(gpu: Gpu, x: Tensor, label: string, opts: { silu?: boolean; scaleShift?: Tensor } = {}): Tensor {
    return groupNorm(gpu, x, this.weight, this.bias, { groups: this.groups, eps: this.eps, ...opts }, label);
  }
  release(): void {
    this.weight.release();
    this.bias.release();
  }
}

export class Linear {
  readonly weight: LinearWeight;
  constructor(gpu: Gpu, p: ParamLoader, inF: number, outF: number) {
    this.weight = LinearWeight.allocate(gpu, [outF, inF], p.formatOf('weight'), p.prefix.slice(0, -1));
    p.read([['weight', [outF, inF]], ['bias', [outF]]], ([w, b]) => this.weight.conv.fill(gpu, w, rawToF32(b)));
  }
  forward(gpu: Gpu, x: Tensor, label: string): Tensor {
    return linear(gpu, x, this.weight, label);
  }
  release(): void {
    this.weight.release();
  }
}

/** GroupNorm + SiLU, fused unless the norm's own output is tapped (the tap is before the SiLU). */
export function normSiluTapped(ctx: RunContext, norm: GroupNorm, h: Tensor, path: string): Tensor {
  const tapped = ctx.taps && (!ctx.tapFilter || ctx.tapFilter(path));
  if (!tapped) return norm.forward(ctx.gpu, h, path, { silu: true });
  const n = norm.forward(ctx.gpu, h, path);
  emit(ctx, path, n);
  const y = silu(ctx.gpu, n, `${path}.act`);
  n.release();
  return y;
}
