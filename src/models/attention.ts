// The VAE mid-block self-attention: diffusers' Attention as UNetMidBlock2D builds it for
// AutoencoderKL (1 head, dim_head = C, group norm, residual), processor AttnProcessor.
// Mirrors diffusers 0.27.2 src/diffusers/models/attention_processor.py, AttnProcessor.__call__:
//
//   t = group_norm(x) viewed as tokens [N, HW, C]            (token index h*W + w)
//   q, k, v = t·Wqᵀ + bq, t·Wkᵀ + bk, t·Wvᵀ + bv               (one fused GEMM: [HW, C] x [C, 3C])
//   p = softmax(q·kᵀ / √C) over keys                        (kᵀ made once per image where the GEMM core runs it)
//   y = ((p·v)·Woᵀ + bo + x) / rescale_output_factor
//
// Memory: the score matrix is HW x HW per image (64 MiB at a 64x64 latent, 1 GiB at 128x128), so it is
// computed in chunks of query rows, each a GEMM, a row softmax and a GEMM, sized by `scoreBytes`
// (default 32 MiB, never above the binding limit). The result does not depend on the chunking.

import { activationDType, cast } from '../kernels/activation.js';
import { concatRaw, convertRaw, rawToF32 } from '../kernels/weight_format.js';
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { add } from '../kernels/elementwise.js';
import { LinearWeight, linear } from '../kernels/linear.js';
import { defaultMatmulVariant, matmul } from '../kernels/matmul.js';
import { sliceChannels } from '../kernels/slice.js';
import { transpose } from '../kernels/transpose.js';
import { softmaxRows } from '../kernels/softmax.js';
import { emit, type RunContext } from './context.js';
import { GroupNorm, Linear } from './layers.js';
import type { ParamLoader } from './params.js';

export interface AttentionConfig {
  channels: number;
  groups: number;
  eps: number;
  rescaleOutputFactor?: number;
}

/** Bytes of one score chunk (rows x HW floats); exported so tests can force small chunks. */
export const attentionLimits = { scoreBytes: 32 * 1024 * 1024 };

/**
 * `transposeK`: on adapters with the GEMM core (8-lane subgroups), K is transposed once per image so
 * that q·kᵀ is a plain product on the core (kernels/matmul.core_views.ts) rather than the transposed-B
 * path; `false` keeps the transposed-B product (A/B benchmarks, tests).
 */
export const attentionPolicy = { transposeK: true };

export class Attention {
  readonly path: string;
  readonly group_norm: GroupNorm;
  /** to_q, to_k, to_v stacked into one [3C, C] projection. */
  readonly to_qkv: LinearWeight;
  readonly to_out: Linear;

  constructor(ctx: RunContext, p: ParamLoader, readonly cfg: AttentionConfig) {
    const { gpu } = ctx;
    const c = cfg.channels;
    this.path = p.prefix.slice(0, -1);
    this.group_norm = new GroupNorm(gpu, p.sub('group_norm'), c, cfg.groups, cfg.eps);
    const qkv = ['to_q', 'to_k', 'to_v'];
    const format = p.formatOf('to_q.weight');
    this.to_qkv = LinearWeight.allocate(gpu, [3 * c, c], format, `${this.path}.to_qkv`);
    p.read([...qkv.map((n) => [`${n}.weight`, [c, c]] as const), ...qkv.map((n) => [`${n}.bias`, [c]] as const)], (raws) => {
      const w = concatRaw(raws.slice(0, 3).map((r, i) => convertRaw(r, format, `${this.path}.${qkv[i]}.weight`)));
      const b = concatRaw(raws.slice(3).map((r) => ({ format: 'f32', values: rawToF32(r) })));
      this.to_qkv.conv.fill(gpu, w, rawToF32(b));
    });
    this.to_out = new Linear(gpu, p.sub('to_out').sub(0), c, c);
  }

  /** x [N, H, W, C] -> same shape. */
  forward(ctx: RunContext, x: Tensor): Tensor {
    const { gpu } = ctx;
    const L = this.path;
    const [n, h, w, c] = x.shape;
    const tokens = h * w;
    const normed = this.group_norm.forward(gpu, x, `${L}.group_norm`);
    const qkvStored = linear(gpu, normed.reshape([n, tokens, c]), this.to_qkv, `${L}.to_qkv`); // [N, HW, 3C]
    normed.release();
    // Scores and softmax are f32 whatever the activations (guides: precision §4.5): on the f16 path
    // q, k, v are widened once here (the mid-block's tokens are few) and o narrowed before to_out.
    const qkv = cast(gpu, qkvStored, 'f32', `${L}.qkv_f32`);
    if (qkv !== qkvStored) qkvStored.release();
    const o = gpu.empty([n, tokens, c], `${L}.attn`);
    const chunk = attentionChunkRows(gpu, tokens);
    const scores = gpu.empty([chunk, tokens], `${L}.scores`);
    const scale = 1 / Math.sqrt(c);
    // Only where the core then applies: C and HW multiples of 32 (its K and N steps).
    const transposeK = attentionPolicy.transposeK && defaultMatmulVariant(gpu) === 'subgroup' && c % 32 === 0 && tokens % 32 === 0;
    // Otherwise k as a tensor of its own [N, HW, C]: q·kᵀ binding q and k as two views of qkv would bind
    // one range twice, which WebGPU refuses when the bindings are read-write (gpu.ts, Gpu.compiled).
    const kAll = transposeK ? undefined : sliceChannels(gpu, qkv, c, 2 * c, `${L}.key`);
    for (let b = 0; b < n; b++) {
      const base = b * tokens * 3 * c;
      const v = { tensor: qkv, offset: base + 2 * c, rows: tokens, cols: c, ld: 3 * c };
      // kT [C, HW]: q·kᵀ as a plain product (the same sums over C, in the same order).
      const kT = transposeK ? transpose(gpu, { tensor: qkv, offset: base + c, rows: tokens, cols: c, ld: 3 * c }, `${L}.key_t`) : undefined;
      for (let t0 = 0; t0 < tokens; t0 += chunk) {
        const rows = Math.min(chunk, tokens - t0);
        const q = { tensor: qkv, offset: base + t0 * 3 * c, rows, cols: c, ld: 3 * c };
        const s = { tensor: scores, offset: 0, rows, cols: tokens, ld: tokens };
        if (kT) matmul(gpu, q, { tensor: kT, offset: 0, rows: c, cols: tokens, ld: tokens }, { alpha: scale, out: s, label: `${L}.scores` });
        else matmul(gpu, q, { tensor: kAll!, offset: b * tokens * c, rows: tokens, cols: c, ld: c }, { transB: true, alpha: scale, out: s, label: `${L}.scores` });
        softmaxRows(gpu, scores, `${L}.softmax`, rows);
        matmul(gpu, s, v, { out: { tensor: o, offset: (b * tokens + t0) * c, rows, cols: c, ld: c }, label: `${L}.probs_v` });
      }
      kT?.release();
    }
    kAll?.release();
    scores.release();
    qkv.release();
    const oStored = cast(gpu, o, activationDType(x, L), `${L}.attn_${x.dtype}`);
    if (oStored !== o) o.release();
    const proj = this.to_out.forward(gpu, oStored, `${L}.to_out.0`);
    oStored.release();
    const y = add(gpu, proj.reshape(x.shape), x, this.cfg.rescaleOutputFactor ?? 1, `${L}.residual`);
    proj.release();
    emit(ctx, L, y);
    return y;
  }

  release(): void {
    this.group_norm.release();
    this.to_qkv.release();
    this.to_out.release();
  }
}

/** Query rows per score chunk: within the score budget and the binding limit. */
export function attentionChunkRows(gpu: Gpu, tokens: number): number {
  const bytes = Math.min(attentionLimits.scoreBytes, gpu.maxBindingBytes);
  return Math.max(1, Math.min(tokens, Math.floor(bytes / (tokens * 4))));
}
