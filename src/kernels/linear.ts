// Linear layer y = x · Wᵀ + b over rows of x (tokens, or a batch of embeddings).
//
// A linear layer is a 1x1 convolution over a column of "pixels", so it runs on the conv2d GEMM
// kernels (their tiling, their banding): x [T, in] is viewed as NHWC [1, T, 1, in]. The weight is
// PyTorch's [out, in], reordered once at load to the GEMM layout [in, out].

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { conv2d, Conv2dWeight } from './conv2d.js';
import type { RawWeight, WeightFormat } from './weight_format.js';

export class LinearWeight {
  constructor(readonly conv: Conv2dWeight) {}

  get inFeatures(): number {
    return this.conv.cin;
  }
  get outFeatures(): number {
    return this.conv.cout;
  }

  /** weight [out, in], bias [out] (f32 values, or raw 16-bit ones kept in their format). */
  static fromTorch(gpu: Gpu, weight: Float32Array | RawWeight, shape: readonly number[], bias?: Float32Array | null, label = 'linear'): LinearWeight {
    if (shape.length !== 2) throw new Error(`${label}.weight: expected [out, in], got [${shape}]`);
    return new LinearWeight(Conv2dWeight.fromTorch(gpu, weight, [shape[0], shape[1], 1, 1], bias, label));
  }

  /** Buffers for a weight [out, in] in `format`; `conv.fill` writes the values. */
  static allocate(gpu: Gpu, shape: readonly number[], format: WeightFormat, label = 'linear'): LinearWeight {
    if (shape.length !== 2) throw new Error(`${label}.weight: expected [out, in], got [${shape}]`);
    return new LinearWeight(Conv2dWeight.allocate(gpu, [shape[0], shape[1], 1, 1], format, label));
  }

  release(): void {
    this.conv.release();
  }
}

/** x [..., in] -> [..., out] (all leading dims are rows). */
export function linear(gpu: Gpu, x: Tensor, l: LinearWeight, label = 'linear'): Tensor {
  const inF = x.shape[x.shape.length - 1];
  if (inF !== l.inFeatures) throw new Error(`${label}: input [${x.shape}] has ${inF} features, the weight expects ${l.inFeatures}`);
  const rows = x.size / inF;
  const y = conv2d(gpu, x.reshape([1, rows, 1, inF]), l.conv, {}, label);
  return y.reshape([...x.shape.slice(0, -1), l.outFeatures]);
}
