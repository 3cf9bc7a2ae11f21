// What every conv2d kernel variant shares: the params struct, the bindings, and the gather of A.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { weightWgsl, type WeightFormat } from './weight_format.js';
import { enableF16, type ActivationDType } from './activation.js';

/** What a kernel may specialise its pipeline on (the rest of the shape is in the params uniform). */
export interface ConvPipelineShape {
  cin: number;
  cout: number;
  /** How the weight is stored (weight_format.ts). */
  format: WeightFormat;
  /** How the input and output activations are stored (activation.ts): f32 math either way. */
  act: ActivationDType;
}

/** A kernel variant: its pipeline, its tile sizes and the workgroup count for a band. */
export interface ConvKernel {
  pipeline(gpu: Gpu, shape: ConvPipelineShape): GPUComputePipeline;
  /** Output pixels per tile and output channels per tile. */
  tileM: number;
  tileN: number;
  /** Binding 2, the weight, where it is not the weight's buffer (recorded before the op: it may copy). */
  weightBinding?(gpu: Gpu, k: KernelWeight, label: string): GPUBufferBinding;
}

/** What a kernel sees of a Conv2dWeight (conv2d.ts): its GEMM-layout tensor w [K, Cout] and shape. */
export interface KernelWeight {
  readonly w: Tensor;
  readonly format: WeightFormat;
  readonly cin: number;
  readonly cout: number;
}


/** The params struct every conv kernel variant declares (field order = packParams order in conv2d.ts). */
export const CONV_PARAMS_STRUCT = /* wgsl */ `
struct Params {
  H: u32, W: u32, Cin: u32, Hout: u32,
  Wout: u32, Cout: u32, KH: u32, KW: u32,
  stride: u32, padTop: u32, padLeft: u32, K: u32,
  pix0: u32,   // first output pixel of this band: (n*Hout + oh)*Wout + ow
  M: u32,      // output pixels in this band
  inBase: u32, // element index where the bound input range starts
  outBase: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
`;

/**
 * Params and bindings of the scalar kernels (weight `wt` [K, Cout], K = (ky*KW + kx)*Cin + ci, read by
 * load_wt), and their gather of A. x and y are stored as `act` (loads widened by load_a, stores
 * narrowed by `y[i] = act(v)`); `enable` lists the shader's other enable directives.
 */
export const convParamsWgsl = (format: WeightFormat, act: ActivationDType, enable = '') => /* wgsl */ `${enable}${enableF16(act)}
${CONV_PARAMS_STRUCT}
alias act = ${act};
@group(0) @binding(1) var<storage, read> x: array<act>;       // NHWC input (a band of rows)
${weightWgsl(2, 'wt', format)}
@group(0) @binding(3) var<storage, read> bias: array<f32>;    // [Cout]
@group(0) @binding(4) var<storage, read_write> y: array<act>; // NHWC output (a band of rows)

// A[m, k]: the input value under tap k of output pixel pix0 + m, or 0 in the padding.
fn load_a(m: u32, k: u32) -> f32 {
  let pix = p.pix0 + m;
  let hw = p.Hout * p.Wout;
  let n = pix / hw;
  let oh = (pix % hw) / p.Wout;
  let ow = pix % p.Wout;
  let ci = k % p.Cin;
  let tap = k / p.Cin;
  let ih = i32(oh * p.stride + tap / p.KW) - i32(p.padTop);
  let iw = i32(ow * p.stride + tap % p.KW) - i32(p.padLeft);
  if (ih < 0 || iw < 0 || ih >= i32(p.H) || iw >= i32(p.W)) { return 0.0; }
  return f32(x[((n * p.H + u32(ih)) * p.W + u32(iw)) * p.Cin + ci - p.inBase]);
}
`;
