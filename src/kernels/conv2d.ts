// conv2d as a tiled implicit GEMM.
//
//   y[n, oh, ow, co] = bias[co] + sum_{ky, kx, ci} x[n, oh*s - padTop + ky, ow*s - padLeft + kx, ci] * w[ky, kx, ci, co]
//
// Seen as a matrix product Y[M, Cout] = A[M, K] · B[K, Cout] with M = output pixels, K = kh*kw*Cin:
// row m of A is the receptive field of pixel m, gathered on the fly from the NHWC input (never
// materialised: that is the "implicit" in implicit GEMM), and B is the weight reordered once at load
// from PyTorch's [Cout, Cin, kh, kw] to [kh, kw, Cin, Cout]. Reads outside the image are zeros, which
// is how any (asymmetric) padding is expressed: the VAE's Downsample2D pads (0, 1, 0, 1).
//
// Kernels, chosen by adapter (same signature, same results within float rounding):
//   - conv2d.tiled.ts: the classic shared-memory tiling, right for real GPUs (portable default).
//   - conv2d.subgroup.ts: operands shared between lanes with subgroupBroadcast, for lavapipe, whose
//     workgroup-memory loads are emulated lane by lane (see docs/kernels.md).
// Both compute one band of output rows per dispatch (see gpu/bands.ts) and accumulate in f32; the
// output is stored in the input's activation dtype (f32, or f16: activation.ts).

import type { Gpu } from '../gpu/gpu.js';
import { planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { packParams } from '../gpu/wgsl.js';
import { tiledConvKernel } from './conv2d.tiled.js';
import { subgroupConvKernel } from './conv2d.subgroup.js';
import type { ConvKernel } from './conv2d.common.js';
import { conv2dWinograd, winogradApplies, type WinogradCore, type WinogradTile } from './winograd.js';
import { releaseU } from './winograd.weights.js';
import { tunedConvVariant, type TuneMode } from '../gpu/tune.js';
import { convertRaw, type RawWeight, type WeightFormat } from './weight_format.js';
import { uploadConvWeight } from './conv_weight_layout.js';
import { activationDType } from './activation.js';
import { pointwiseGemmApplies, pointwiseGemmKernel } from './conv1x1.gemm.js';

export type { ConvKernel };

export interface Conv2dOptions {
  stride?: number;
  /** [top, bottom, left, right]; default: none. */
  padding?: readonly [number, number, number, number];
  /**
   * Force a kernel variant (tests and benchmarks); default: chosen from the adapter's features and
   * the shape (see `chooseConvVariant`). 'tiled' and 'subgroup' are direct convolutions (the
   * reference path); 'winograd' (F(2x2, 3x3)) and 'winograd4' (F(4x4, 3x3)) only compute 3x3
   * stride-1 pad-1 convolutions, on the subgroup GEMM core (8-lane subgroups); 'winograd-shared' and
   * 'winograd4-shared' are the same on the workgroup-memory GEMM core (any adapter).
   */
  variant?: ConvVariant;
}

export type ConvVariant = 'tiled' | 'subgroup' | 'winograd' | 'winograd4' | 'winograd-shared' | 'winograd4-shared';

/** The Winograd variants' tile and GEMM core (winograd.ts); undefined for the direct convolutions. */
export function winogradVariant(v: ConvVariant): { tile: WinogradTile; core: WinogradCore } | undefined {
  const tile = v === 'winograd' || v === 'winograd-shared' ? 2 : v === 'winograd4' || v === 'winograd4-shared' ? 4 : undefined;
  return tile && { tile, core: v.endsWith('-shared') ? 'shared' : 'subgroup' };
}

const variants: Partial<Record<ConvVariant, ConvKernel>> = { tiled: tiledConvKernel, subgroup: subgroupConvKernel };

export function registerConvVariant(name: ConvVariant, k: ConvKernel): void {
  variants[name] = k;
}

/** The direct-convolution variant for this adapter: the subgroup kernels assume exactly 8 lanes. */
export function defaultConvVariant(gpu: Gpu): ConvVariant {
  const { subgroups, subgroupMinSize, subgroupMaxSize } = gpu.features;
  return subgroups && subgroupMinSize === 8 && subgroupMaxSize === 8 && variants.subgroup ? 'subgroup' : 'tiled';
}

/**
 * The variant conv2d runs when none is forced: Winograd wherever it applies (3x3, stride 1, padding
 * 1), on the subgroup GEMM core where subgroups are exactly 8 lanes and on the workgroup-memory core
 * everywhere else (convPolicy.winogradCore overrides), the direct subgroup or tiled kernel otherwise. Winograd
 * F(4x4, 3x3) ('winograd4', convPolicy.winogradTile = 4, the default) measured 1.4-1.5x faster than
 * F(2x2, 3x3) and 3-4x faster than the direct conv at every shape tried on lavapipe, 128 -> 3 and
 * 4 -> 512 included (so no direct-conv exception for few channels), and passes every reference case at
 * its tolerance, at ~4x F(2x2, 3x3)'s rounding error (docs/benchmarks.md). The choice depends on the
 * shape only, never on the binding limit, so banding cannot change which arithmetic runs.
 */
export function chooseConvVariant(gpu: Gpu, k: Conv2dWeight, stride: number, pad: readonly number[], pixels = 0): ConvVariant {
  const rule = ruleConvVariant(gpu, k, stride, pad);
  // convPolicy.tune: 'off' is the rule alone; otherwise a measured winner for this shape class, if any (gpu/tune.ts).
  if (convPolicy.tune === 'off') return rule;
  const tuned = tunedConvVariant(gpu, { cin: k.cin, cout: k.cout, kh: k.kh, kw: k.kw, stride, pad, pixels }, rule, convPolicy.tune, convPolicy.winograd);
  // A weight kept only as its cached U runs only that tile's Winograd: a winner needing the direct
  // weight (remembered after the weight went) falls back to the rule, which picks that form.
  if (k.directReleased && k.winograd && winogradVariant(tuned)?.tile !== k.winograd.tile) return rule;
  return tuned;
}

function ruleConvVariant(gpu: Gpu, k: Conv2dWeight, stride: number, pad: readonly number[]): ConvVariant {
  const direct = defaultConvVariant(gpu);
  // A weight kept only as its cached U has one form left: its Winograd tile size, whatever the policy.
  const only = k.directReleased && k.winograd ? k.winograd.tile : undefined;
  if (!only && (!convPolicy.winograd || !winogradApplies(k, stride, pad))) return direct;
  // The subgroup GEMM core needs what the direct subgroup kernel needs: subgroups of exactly 8 lanes.
  const core = convPolicy.winogradCore === 'auto' ? (direct === 'subgroup' ? 'subgroup' : 'shared') : convPolicy.winogradCore;
  return `${(only ?? convPolicy.winogradTile) === 4 ? 'winograd4' : 'winograd'}${core === 'shared' ? '-shared' : ''}` as ConvVariant;
}

/**
 * Switches for chooseConvVariant: `winograd: false` runs whole models on the direct convolution;
 * `winogradTile` picks F(2x2, 3x3) (2) or F(4x4, 3x3) (4) for the automatic choice; `winogradCore`
 * its GEMM core ('auto': subgroup where subgroups are 8 lanes, else shared; 'subgroup' fails on other
 * adapters with an error naming their subgroup sizes; 'shared' runs anywhere); `tune` uses
 * measured winners (gpu/tune.ts): 'off' (default) the rule above, 'cached' stored or shipped winners
 * then the rule, 'full' the same and it records the shape classes still to measure (and keeps every
 * direct weight, since a winner measured later may need it: cached Winograd U then sit beside them).
 */
export const convPolicy: { winograd: boolean; winogradTile: WinogradTile; winogradCore: 'auto' | WinogradCore; tune: TuneMode } = { winograd: true, winogradTile: 4, winogradCore: 'auto', tune: 'off' };

/**
 * Conv weights in GEMM layout: w [kh*kw*Cin, Cout] in its storage format (f32, or f16/bf16 packed two
 * per word: weight_format.ts) and bias [Cout] in f32 (zeros when the module has none).
 */
export class Conv2dWeight {
  /** Winograd-transformed weight U when it is cached with the weight (winograd.weights.ts). */
  winograd: { u: GPUTexture; gpu: Gpu; tile: WinogradTile; bytes: number } | null = null;
  /** Set once only the Winograd form is kept: the direct weight w was released. */
  directReleased = false;

  constructor(
    readonly w: Tensor,
    readonly bias: Tensor,
    readonly cout: number,
    readonly cin: number,
    readonly kh: number,
    readonly kw: number,
  ) {}

  /** How w is stored: kernels read it through weightWgsl(format). */
  get format(): WeightFormat {
    return this.w.dtype;
  }

  /** GPU buffers for a weight of PyTorch shape [Cout, Cin, kh, kw] in `format`; `fill` writes the values. */
  static allocate(gpu: Gpu, shape: readonly number[], format: WeightFormat, label = 'conv'): Conv2dWeight {
    const [cout, cin, kh, kw] = shape;
    if (shape.length !== 4) throw new Error(`${label}.weight: expected [Cout, Cin, kh, kw], got [${shape}]`);
    return new Conv2dWeight(gpu.empty([kh * kw * cin, cout], `${label}.weight`, format, true), gpu.empty([cout], `${label}.bias`, 'f32', true), cout, cin, kh, kw);
  }

  /**
   * Writes PyTorch-layout values: weight [Cout, Cin, kh, kw] (reordered to [ky, kx, ci, co] in its raw
   * format, so 16-bit values are never rounded twice) converted to this weight's format, and bias.
   */
  fill(gpu: Gpu, weight: RawWeight, bias?: Float32Array | null): void {
    const { cout, cin, kh, kw } = this;
    const label = this.w.label.replace(/\.weight$/, '');
    const n = cout * cin * kh * kw;
    const got = weight.format === 'f32' ? weight.values.length : weight.bits.length;
    if (got !== n) throw new Error(`${label}.weight: expected [${cout}, ${cin}, ${kh}, ${kw}] (${n} values), got ${got} values`);
    if (bias && bias.length !== cout) throw new Error(`${label}.bias: expected [${cout}], got ${bias.length} values`);
    if (gpu.dryRun) return; // a plan uploads nothing
    // Uploaded as the checkpoint holds it and reordered to GEMM layout on the GPU (conv_weight_layout.ts).
    uploadConvWeight(gpu, convertRaw(weight, this.format, `${label}.weight`), this.w, cout, cin, kh, kw);
    gpu.writeBuffer(this.bias.buffer, this.bias.offset, bias ?? new Float32Array(cout));
  }

  /** From PyTorch's layout: weight [Cout, Cin, kh, kw] (f32 values or raw 16-bit ones), bias [Cout]. */
  static fromTorch(gpu: Gpu, weight: Float32Array | RawWeight, shape: readonly number[], bias?: Float32Array | null, label = 'conv', format?: WeightFormat): Conv2dWeight {
    const raw: RawWeight = weight instanceof Float32Array ? { format: 'f32', values: weight } : weight;
    const k = Conv2dWeight.allocate(gpu, shape, format ?? raw.format, label);
    try {
      k.fill(gpu, raw, bias);
    } catch (e) {
      k.release();
      throw e;
    }
    return k;
  }

  /** Releases the direct weight once a cached Winograd U is all that reads it. */
  releaseDirect(): void {
    this.w.destroy(); // freed, not pooled: activations live in the arena, so nothing would reuse it
    this.directReleased = true;
  }

  release(): void {
    if (this.winograd) {
      this.directReleased = false;
      releaseU(this);
    }
    this.w.release();
    this.bias.release();
  }
}

export function conv2dOutputSize(h: number, w: number, k: Conv2dWeight, stride: number, [pt, pb, pl, pr]: readonly number[]): [number, number] {
  return [Math.floor((h + pt + pb - k.kh) / stride) + 1, Math.floor((w + pl + pr - k.kw) / stride) + 1];
}

/** x [N, H, W, Cin] -> y [N, Hout, Wout, Cout]. */
export function conv2d(gpu: Gpu, x: Tensor, k: Conv2dWeight, opts: Conv2dOptions = {}, label = 'conv2d'): Tensor {
  const [n, h, w, cin] = x.shape;
  if (x.shape.length !== 4 || cin !== k.cin) throw new Error(`${label}: input [${x.shape}] (NHWC) does not have the weight's ${k.cin} input channels`);
  const stride = opts.stride ?? 1;
  const pad = opts.padding ?? [0, 0, 0, 0];
  const [hout, wout] = conv2dOutputSize(h, w, k, stride, pad);
  if (hout < 1 || wout < 1) throw new Error(`${label}: input ${h}x${w} is smaller than the ${k.kh}x${k.kw} kernel`);
  const variant = opts.variant ?? chooseConvVariant(gpu, k, stride, pad, n * hout * wout);
  const wino = winogradVariant(variant);
  if (wino) {
    if (!winogradApplies(k, stride, pad)) throw new Error(`${label}: ${variant} needs a 3x3 kernel, stride 1 and padding 1 (got ${k.kh}x${k.kw}, stride ${stride}, padding [${pad}])`);
    // The direct weight may go (its cached U then replaces it) only when nothing can ask for it again:
    // the variant was chosen, not forced, and no tuner in 'full' mode may still pick a direct kernel.
    return conv2dWinograd(gpu, x, k, label, wino.tile, opts.variant === undefined && convPolicy.tune !== 'full', wino.core);
  }
  if (k.directReleased) throw new Error(`${label}: this weight is kept only in its Winograd form (winogradPolicy); the ${variant} convolution needs the direct weight`);
  const act = activationDType(x, label);
  const y = gpu.empty([n, hout, wout, k.cout], label, act);
  // 1x1 convs in the automatic choice run on the GEMM core where it applies (conv1x1.gemm.ts).
  const kernel = opts.variant === undefined && variant === 'subgroup' && pointwiseGemmApplies(gpu, k, stride, pad, act) ? pointwiseGemmKernel : variants[variant];
  if (!kernel) throw new Error(`${label}: conv variant ${variant} is not available`);
  const pipeline = kernel.pipeline(gpu, { cin: k.cin, cout: k.cout, format: k.format, act });

  // Output rows are (n, oh) flattened; a band of them reads input rows from the first row's top halo
  // to the last row's bottom halo (clipped to the image; rows in the padding are never read).
  const inRow = (r: number, edge: 0 | 1) => {
    const b = Math.floor(r / hout);
    const ih = (r % hout) * stride - pad[0] + (edge ? k.kh - 1 : 0);
    return b * h + Math.min(h - 1, Math.max(0, ih)) + edge;
  };
  const ranges = (r0: number, r1: number): Range[] => [
    [inRow(r0, 0) * w * cin, inRow(r1 - 1, 1) * w * cin],
    [r0 * wout * k.cout, r1 * wout * k.cout],
  ];
  const bands = planBands(gpu, n * hout, ranges, `${label} [${x.shape}] -> [${y.shape}]`);
  const opLabel = `${label} [${x.shape}]->[${y.shape}] k${k.kh}x${k.kw}s${stride}`;
  const wb = kernel.weightBinding?.(gpu, k, opLabel) ?? gpu.bindWhole(k.w);
  gpu.op(opLabel, (pass) => {
    for (const { r0, r1 } of bands) {
      const [inR, outR] = ranges(r0, r1);
      const xb = gpu.bind(x, inR[0], inR[1]);
      const yb = gpu.bind(y, outR[0], outR[1]);
      const m = (r1 - r0) * wout;
      const params = packParams([h, w, cin, hout, wout, k.cout, k.kh, k.kw, stride, pad[0], pad[2], k.kh * k.kw * cin, r0 * wout, m, xb.base, yb.base]);
      const groups = Math.ceil(m / kernel.tileM) * Math.ceil(k.cout / kernel.tileN);
      gpu.dispatch(pass, pipeline, params, [xb.binding, wb, gpu.bindWhole(k.bias), yb.binding], groups);
    }
  }, { flops: 2 * n * hout * wout * k.cout * k.kh * k.kw * cin });
  return y;
}

