// The ops a kernel case file may name, each run from the case's tensors (PyTorch layouts, NCHW) and
// params, returning the result in PyTorch's layout for comparison with `expected`.

import type { Gpu } from '../gpu/gpu.js';
import { nchwToNhwc, nhwcToNchw, type Tensor } from '../gpu/tensor.js';
import { conv2d, Conv2dWeight } from '../kernels/conv2d.js';

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

export const KERNEL_OPS: Record<string, KernelOp> = {
  conv2d: convOp,
  downsample2d_conv: convOp,
};
