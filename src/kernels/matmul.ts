// General matrix product on views into tensors: attention (Q·K^T, probs·V) and linear layers.
//
//   C[m, n] = alpha * sum_k A[m, k] * B[k, n] + bias[n]     (B[n, k] when transB)
//
// A view is a strided window of a tensor, so Q, K and V can be read straight out of one interleaved
// [tokens, 3C] tensor and heads out of [tokens, C] without copies. Rows of A and C are processed in
// bands that each fit the planning binding limit (see gpu/bands.ts); B and the bias are bound whole
// (B is at most one image's K or V, a few MB), checked against the device's real binding limit.
// Accumulation is in f32, and A, B, C are f32 tensors (f16 views are refused: on the f16-activation
// path the attention casts q, k, v to f32 first, models/attention.ts). Kernels, chosen like conv2d's: matmul.tiled.ts (portable, shared memory)
// and matmul.subgroup.ts (lavapipe: operands shared with subgroupBroadcast). Both give the same result
// for every band split: each element of C is computed by the same code from the same inputs.

import type { Gpu } from '../gpu/gpu.js';
import { planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { packParams } from '../gpu/wgsl.js';
import type { MatmulKernel } from './matmul.common.js';
import { subgroupMatmulKernel } from './matmul.subgroup.js';
import { tiledMatmulKernel } from './matmul.tiled.js';
import { coreViewsApply, coreViewsMatmulKernel } from './matmul.core_views.js';

/** Element (r, c) is at offset + r*ld + c of the tensor (elements, f32). */
export interface MatrixView {
  tensor: Tensor;
  offset: number;
  rows: number;
  cols: number;
  ld: number;
}

/** 'core': the GEMM core for aligned views (matmul.core_views.ts), chosen over 'subgroup' wherever it applies. */
export type MatmulVariant = 'tiled' | 'subgroup' | 'core';

export interface MatmulOptions {
  transB?: boolean;
  alpha?: number;
  /** [N], added to every row. */
  bias?: Tensor;
  /** Where to write C (rows x cols must be M x N; must not overlap A, B or bias). Default: a new [M, N]. */
  out?: MatrixView;
  label?: string;
  /** Force a kernel variant (tests and benchmarks); default: chosen from the adapter's features. */
  variant?: MatmulVariant;
}

const variants: Record<MatmulVariant, MatmulKernel> = { tiled: tiledMatmulKernel, subgroup: subgroupMatmulKernel, core: coreViewsMatmulKernel };

export function defaultMatmulVariant(gpu: Gpu): MatmulVariant {
  return gpu.features.subgroups && gpu.features.subgroupMinSize === 8 && gpu.features.subgroupMaxSize === 8 ? 'subgroup' : 'tiled';
}

/** A view of a whole 2D (or flattened [rows, last dim]) tensor. */
export function viewOf(t: Tensor): MatrixView {
  const cols = t.shape[t.shape.length - 1];
  return { tensor: t, offset: 0, rows: t.size / cols, cols, ld: cols };
}

/** Elements [start, end) a view spans. */
function span(v: MatrixView, r0 = 0, r1 = v.rows): Range {
  return [v.offset + r0 * v.ld, v.offset + (r1 - 1) * v.ld + v.cols];
}

function checkView(v: MatrixView, what: string): void {
  const [, end] = span(v);
  if (v.rows < 1 || v.cols < 1 || v.ld < v.cols || v.offset < 0 || end > v.tensor.size)
    throw new Error(`matmul ${what}: view ${v.rows}x${v.cols} (ld ${v.ld}, offset ${v.offset}) does not fit in ${v.tensor}`);
}

export function matmul(gpu: Gpu, a: MatrixView, b: MatrixView, opts: MatmulOptions = {}): Tensor {
  const label = opts.label ?? 'matmul';
  const transB = opts.transB ?? false;
  const [m, k] = [a.rows, a.cols];
  const [kb, n] = transB ? [b.cols, b.rows] : [b.rows, b.cols];
  for (const [v, what] of [[a, 'A'], [b, 'B'], ...(opts.out ? [[opts.out, 'out'] as const] : [])] as const)
    if (v.tensor.dtype !== 'f32') throw new Error(`matmul ${label} ${what}: ${v.tensor} is ${v.tensor.dtype}; matmul reads and writes f32 (cast first: kernels/activation.ts)`);
  checkView(a, `${label} A`);
  checkView(b, `${label} B`);
  if (kb !== k) throw new Error(`${label}: A is ${m}x${k} but B${transB ? '^T' : ''} is ${kb}x${n}`);
  if (opts.bias && opts.bias.size !== n) throw new Error(`${label}: bias has ${opts.bias.size} values, expected ${n}`);
  const out = opts.out ?? { tensor: gpu.empty([m, n], label), offset: 0, rows: m, cols: n, ld: n };
  checkView(out, `${label} out`);
  if (out.rows !== m || out.cols !== n) throw new Error(`${label}: out view is ${out.rows}x${out.cols}, expected ${m}x${n}`);

  // vec4 loads when every vec4 of A and B is aligned (bands start on 256-byte boundaries, see gpu.bind).
  const vec4 = !transB && k % 32 === 0 && n % 4 === 0 && [a.ld, a.offset, b.ld, b.offset].every((v) => v % 4 === 0);
  const core = coreViewsApply(transB, n, k, [a.ld, a.offset, b.ld, b.offset, out.ld, out.offset]);
  const auto = defaultMatmulVariant(gpu);
  const variant = opts.variant ?? (auto === 'subgroup' && core ? 'core' : auto);
  if (variant === 'core' && !core) throw new Error(`${label}: the core variant needs B not transposed, K % 32 == 0, N % 32 == 0 and strides and offsets % 4 == 0`);
  const kernel = variants[variant];
  const pipeline = kernel.pipeline(gpu, { vec4 });
  const bBind = bindParam(gpu, b.tensor, span(b), `${label} B`);
  const biasBind = opts.bias ? bindParam(gpu, opts.bias, [0, n], `${label} bias`) : { binding: gpu.spareBinding(), base: 0 }; // unread when no bias
  const ranges = (r0: number, r1: number): Range[] => [span(a, r0, r1), span(out, r0, r1)];
  const bands = planBands(gpu, m, ranges, `${label} [${m}x${k}]·[${k}x${n}]`);
  gpu.op(`${label} [${m}x${k}]·[${k}x${n}]${transB ? 'T' : ''}`, (pass) => {
    for (const { r0, r1 } of bands) {
      const [aR, cR] = ranges(r0, r1);
      const ab = gpu.bind(a.tensor, aR[0], aR[1]);
      const cb = gpu.bind(out.tensor, cR[0], cR[1]);
      const [sk, sn] = transB ? [1, b.ld] : [b.ld, 1];
      const params = packParams([r1 - r0, n, k, a.ld, out.ld, aR[0] - ab.base, cR[0] - cb.base, b.offset - bBind.base, sk, sn, opts.bias ? 1 : 0, { f32: opts.alpha ?? 1 }]);
      const groups = Math.ceil((r1 - r0) / kernel.tileM) * Math.ceil(n / kernel.tileN);
      gpu.dispatch(pass, pipeline, params, [ab.binding, bBind.binding, biasBind.binding, cb.binding], groups);
    }
  });
  return out.tensor;
}

/**
 * Binds elements [start, end) of a parameter-like tensor, checked against the device's real limit (also
 * used by transpose.ts: the one place outside gpu.bind that binds a tensor at an explicit offset).
 */
export function bindParam(gpu: Gpu, t: Tensor, [start, end]: Range, what: string): { binding: GPUBufferBinding; base: number } {
  t.assertLive();
  const alignElems = gpu.storageAlign / 4;
  const base = Math.floor(start / alignElems) * alignElems;
  const size = Math.max(4, (end - base) * 4);
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  if (size > limit) throw new Error(`${what}: ${size} bytes, above the adapter's maxStorageBufferBindingSize ${limit}`);
  return { binding: { buffer: t.buffer, offset: t.offset + base * 4, size }, base };
}
