// The ops a kernel case file may name, each run from the case's tensors (PyTorch layouts, NCHW) and
// params, returning the result in PyTorch's layout for comparison with `expected`.

import type { Gpu } from '../gpu/gpu.js';
import { nchwToNhwc, nhwcToNchw, type Tensor } from '../gpu/tensor.js';
import { conv2d, Conv2dWeight } from '../kernels/conv2d.js';
import { avgPool2x2 } from '../kernels/avg_pool.js';
import { concatChannels } from '../kernels/concat.js';
import { axpby, silu } from '../kernels/elementwise.js';
import { latentNormalize } from '../kernels/latent_norm.js';
import { Attention } from '../models/attention.js';
import { LearnedTimeProj, TimestepEmbedding } from '../models/embeddings.js';
import { consistencySchedule } from '../models/schedule.js';
import { CONSISTENCY_LATENT } from '../models/consistency_constants.js';
import { groupNorm } from '../kernels/group_norm.js';
import { linear, LinearWeight } from '../kernels/linear.js';
import { upsampleNearest } from '../kernels/upsample.js';
import { ResnetBlock2D } from '../models/resnet.js';
import { ParamLoader } from '../models/params.js';

export interface CaseTensor {
  shape: number[];
  data: Float32Array | Int32Array;
}
export type CaseInputs = Map<string, CaseTensor>;
export type KernelOp = (gpu: Gpu, t: CaseInputs, params: Record<string, unknown>) => Promise<Float32Array>;

export function need(t: CaseInputs, name: string): CaseTensor {
  const v = t.get(name);
  if (!v) throw new Error(`missing tensor "${name}"`);
  return v;
}

export function f32(t: CaseInputs, name: string): Float32Array {
  const v = need(t, name);
  return v.data instanceof Float32Array ? v.data : Float32Array.from(v.data);
}

/** Uploads an NCHW (or [N, C]) case tensor as NHWC. */
export function uploadNchw(gpu: Gpu, t: CaseInputs, name: string): Tensor {
  const v = need(t, name);
  const [n, c, h = 1, w = 1] = v.shape;
  return gpu.upload(nchwToNhwc(f32(t, name), [n, c, h, w]), [n, h, w, c], name);
}

/** Reads an NHWC tensor back as NCHW and releases it. */
export async function readNchw(x: Tensor): Promise<Float32Array> {
  const data = nhwcToNchw(await x.read(), x.shape);
  x.release();
  return data;
}

export function convWeight(gpu: Gpu, t: CaseInputs, prefix: string): Conv2dWeight {
  const w = need(t, `${prefix}weight`);
  return Conv2dWeight.fromTorch(gpu, f32(t, `${prefix}weight`), w.shape, t.has(`${prefix}bias`) ? f32(t, `${prefix}bias`) : null, prefix || 'conv');
}

async function convOp(gpu: Gpu, t: CaseInputs, params: Record<string, unknown>): Promise<Float32Array> {
  const x = uploadNchw(gpu, t, 'input');
  const w = convWeight(gpu, t, '');
  const stride = (params.stride as number[] | undefined)?.[0] ?? 1;
  const padding = (params.padding as [number, number, number, number] | undefined) ?? [0, 0, 0, 0];
  const y = conv2d(gpu, x, w, { stride, padding });
  x.release();
  w.release();
  return readNchw(y);
}

async function groupNormOp(gpu: Gpu, t: CaseInputs, params: Record<string, unknown>, siluAfter = false): Promise<Float32Array> {
  const x = uploadNchw(gpu, t, 'input');
  const c = x.shape[3];
  const w = gpu.upload(f32(t, 'weight'), [c], 'weight');
  const b = gpu.upload(f32(t, 'bias'), [c], 'bias');
  const y = groupNorm(gpu, x, w, b, { groups: params.num_groups as number, eps: params.eps as number, silu: siluAfter || params.silu_after === true });
  for (const r of [x, w, b]) r.release();
  return readNchw(y);
}

/** Runs f on the uploaded input and reads the result back as NCHW. */
async function unary(gpu: Gpu, t: CaseInputs, f: (x: Tensor) => Tensor): Promise<Float32Array> {
  const x = uploadNchw(gpu, t, 'input');
  const y = f(x);
  x.release();
  return readNchw(y);
}

async function linearOp(gpu: Gpu, t: CaseInputs): Promise<Float32Array> {
  const x = need(t, 'input');
  const w = need(t, 'weight');
  const xt = gpu.upload(f32(t, 'input'), x.shape, 'input');
  const l = LinearWeight.fromTorch(gpu, f32(t, 'weight'), w.shape, t.has('bias') ? f32(t, 'bias') : null);
  const y = linear(gpu, xt, l);
  xt.release();
  l.release();
  const out = await y.read();
  y.release();
  return out;
}

async function resnetOp(gpu: Gpu, t: CaseInputs, params: Record<string, unknown>): Promise<Float32Array> {
  const p = ParamLoader.fromMap(t, 'resnet case', (n) => n === 'input' || n === 'temb' || n === 'expected');
  const ctx = { gpu };
  const block = new ResnetBlock2D(ctx, p, {
    inChannels: params.in_channels as number,
    outChannels: params.out_channels as number,
    groups: params.groups as number,
    eps: params.eps as number,
    tembChannels: (params.temb_channels as number | null) ?? undefined,
    up: params.up === true,
    down: params.down === true,
    outputScaleFactor: params.output_scale_factor as number,
  });
  p.finish();
  const x = uploadNchw(gpu, t, 'input');
  let temb: Tensor | undefined;
  if (t.has('temb')) {
    const raw = gpu.upload(f32(t, 'temb'), need(t, 'temb').shape, 'temb');
    temb = silu(gpu, raw);
    raw.release();
  }
  const y = block.forward(ctx, x, temb);
  x.release();
  temb?.release();
  block.release();
  return readNchw(y);
}

async function attentionOp(gpu: Gpu, t: CaseInputs, params: Record<string, unknown>): Promise<Float32Array> {
  const p = ParamLoader.fromMap(t, 'attention case', (n) => n === 'input' || n === 'expected' || n.startsWith('inter.'));
  const ctx = { gpu };
  const attn = new Attention(ctx, p, {
    channels: params.channels as number,
    groups: params.group_norm_groups as number,
    eps: params.group_norm_eps as number,
    rescaleOutputFactor: params.rescale_output_factor as number,
  });
  p.finish();
  const out = await unary(gpu, t, (x) => attn.forward(ctx, x));
  attn.release();
  return out;
}

async function timeEmbeddingOp(gpu: Gpu, t: CaseInputs, learned: boolean): Promise<Float32Array> {
  const ctx = { gpu };
  const p = ParamLoader.fromMap(t, 'time embedding case', (n) => n === 'input' || n === 'timesteps' || n === 'expected');
  const mlp = learned ? p.sub('time_embedding') : p;
  const w1 = need(t, learned ? 'time_embedding.linear_1.weight' : 'linear_1.weight').shape;
  const temb = new TimestepEmbedding(ctx, mlp, w1[1], w1[0]);
  let x: Tensor;
  let proj: LearnedTimeProj | undefined;
  if (learned) {
    proj = new LearnedTimeProj(ctx, p.sub('time_proj'), need(t, 'time_proj.weight').shape[0], w1[1]);
    x = proj.forward(ctx, Array.from(need(t, 'timesteps').data));
  } else {
    x = gpu.upload(f32(t, 'input'), need(t, 'input').shape, 'input');
  }
  p.finish();
  const y = temb.forward(ctx, x);
  x.release();
  temb.release();
  proj?.release();
  const out = await y.read();
  y.release();
  return out;
}

async function schedulerStepOp(gpu: Gpu, t: CaseInputs, params: Record<string, unknown>): Promise<Float32Array> {
  const s = consistencySchedule();
  const step = params.t as number;
  const next = params.next_t as number | null;
  const [out, sample] = [uploadNchw(gpu, t, 'model_output'), uploadNchw(gpu, t, 'sample')];
  let x = axpby(gpu, s.cOut[step], out, s.cSkip[step], sample, 'x0');
  if (next !== null) {
    const noise = uploadNchw(gpu, t, 'noise');
    const prev = axpby(gpu, s.sqrtAlphasCumprod[next], x, s.sqrtOneMinusAlphasCumprod[next], noise, 'x_prev');
    noise.release();
    x.release();
    x = prev;
  }
  out.release();
  sample.release();
  return readNchw(x);
}

export const KERNEL_OPS: Record<string, KernelOp> = {
  conv2d: convOp,
  downsample2d_conv: convOp,
  group_norm: (gpu, t, params) => groupNormOp(gpu, t, params),
  group_norm_silu: (gpu, t, params) => groupNormOp(gpu, t, params, true),
  silu: (gpu, t) => unary(gpu, t, (x) => silu(gpu, x)),
  linear: linearOp,
  upsample_nearest: (gpu, t, params) => unary(gpu, t, (x) => upsampleNearest(gpu, x, params.scale_factor as number)),
  avg_pool2d: (gpu, t) => unary(gpu, t, (x) => avgPool2x2(gpu, x)),
  upsample2d_conv: async (gpu, t) => {
    const w = convWeight(gpu, t, '');
    const out = await unary(gpu, t, (x) => {
      const up = upsampleNearest(gpu, x, 2);
      const y = conv2d(gpu, up, w, { padding: [1, 1, 1, 1] });
      up.release();
      return y;
    });
    w.release();
    return out;
  },
  concat: async (gpu, t) => {
    const a = uploadNchw(gpu, t, 'input0');
    const b = uploadNchw(gpu, t, 'input1');
    const y = concatChannels(gpu, a, b);
    a.release();
    b.release();
    return readNchw(y);
  },
  resnet_block2d: resnetOp,
  vae_attention: attentionOp,
  timestep_embedding_mlp: (gpu, t) => timeEmbeddingOp(gpu, t, false),
  timestep_embedding_learned: (gpu, t) => timeEmbeddingOp(gpu, t, true),
  consistency_latent_prep: (gpu, t, params) =>
    unary(gpu, t, (z) => {
      const means = (params.means as number[] | undefined) ?? CONSISTENCY_LATENT.means;
      const stds = (params.stds as number[] | undefined) ?? CONSISTENCY_LATENT.stds;
      const normed = latentNormalize(gpu, z, (params.scaling_factor as number | undefined) ?? CONSISTENCY_LATENT.scalingFactor, means, stds);
      const up = upsampleNearest(gpu, normed, 8);
      normed.release();
      return up;
    }),
  consistency_scheduler_step: schedulerStepOp,
};
