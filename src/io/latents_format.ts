// The stored-latent format: one safetensors file. This file has the format without I/O (no Node
// imports, so the page uses it too); io/latents.ts reads and writes such files in Node.
//
//   tensor "latent"          [N, C, h, w] (PyTorch layout), the *scaled* SD latent (encoder mean or
//                            sample × scaling_factor: what SD pipelines feed their UNet), as
//                            F32, F16, or U8 (8-bit, one affine scale per channel)
//   tensor "latent.scale"    [C] F32, only for U8: value = offset + scale · q
//   tensor "latent.offset"   [C] F32, only for U8
//   metadata                 format "sdvae-latent", version "1", precision, model, latent_space,
//                            scaling_factor, source (file name), source_size [W, H], crop, resize,
//                            sampling ("mode" or "sample:SEED"), scaled "true" (the values are
//                            latent × scaling_factor)
//
// Sizes: an RGB8 image is 3·H·W bytes; the latent has H/8·W/8·4 values: 12x smaller as fp32, 24x as
// fp16, 48x as 8-bit (the often quoted figure). `latent_space` names what a decoder must accept
// (channels, downscale factor, scaling factor): decoding with an incompatible model is an error.

import { f16ToF32, f32ToF16 } from './dtype.js';
import { encodeSafetensors, type LoadedTensor, type TensorToWrite } from './safetensors_format.js';

export type LatentPrecision = 'fp32' | 'fp16' | 'u8';

export interface LatentMeta {
  model: string;
  latentSpace: string;
  scalingFactor: number;
  source?: string;
  sourceSize?: [number, number];
  crop?: string;
  resize?: string;
  sampling?: string;
}

export interface StoredLatent {
  /** Scaled latent, NCHW. */
  data: Float32Array;
  shape: [number, number, number, number];
  precision: LatentPrecision;
  meta: LatentMeta;
}

export { latentSpaceId } from './latent_space.js';

/** Per-channel 8-bit quantisation: q = round((x − min_c) / scale_c), scale_c = (max_c − min_c) / 255. */
export function quantizeU8(data: Float32Array, [n, c, h, w]: readonly number[]): { q: Uint8Array; scale: Float32Array; offset: Float32Array } {
  const plane = h * w;
  const scale = new Float32Array(c);
  const offset = new Float32Array(c);
  const q = new Uint8Array(data.length);
  for (let ch = 0; ch < c; ch++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < plane; i++) {
        const v = data[(b * c + ch) * plane + i];
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    offset[ch] = lo;
    scale[ch] = hi > lo ? (hi - lo) / 255 : 1;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < plane; i++) {
        const k = (b * c + ch) * plane + i;
        q[k] = Math.min(255, Math.max(0, Math.round((data[k] - offset[ch]) / scale[ch])));
      }
  }
  return { q, scale, offset };
}

export function dequantizeU8(q: Uint8Array, scale: Float32Array, offset: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(q.length);
  for (let k = 0; k < q.length; k++) {
    const ch = Math.floor(k / (h * w)) % c;
    out[k] = offset[ch] + scale[ch] * q[k];
  }
  void n;
  return out;
}

/** The bytes the latent takes in a given precision (tensor data only). */
export function latentBytes(shape: readonly number[], precision: LatentPrecision): number {
  const n = shape.reduce((a, b) => a * b, 1);
  return precision === 'fp32' ? 4 * n : precision === 'fp16' ? 2 * n : n + 8 * shape[1];
}

/** What a latent becomes after storing it in `precision` and reading it back. */
export function roundTrip(data: Float32Array, shape: readonly number[], precision: LatentPrecision): Float32Array {
  if (precision === 'fp32') return data;
  if (precision === 'fp16') return f16ToF32(f32ToF16(data));
  const { q, scale, offset } = quantizeU8(data, shape);
  return dequantizeU8(q, scale, offset, shape);
}

/** The tensors and metadata of a stored latent (what writeLatentFile writes). */
export function latentTensors(latent: StoredLatent, what: string): { tensors: Record<string, TensorToWrite>; metadata: Record<string, string> } {
  assertFinite(latent.data, what);
  const { shape, precision, meta } = latent;
  const tensors: Record<string, TensorToWrite> = {};
  if (precision === 'fp32') tensors.latent = { dtype: 'F32', shape, data: latent.data };
  else if (precision === 'fp16') tensors.latent = { dtype: 'F16', shape, data: f32ToF16(latent.data) };
  else {
    const { q, scale, offset } = quantizeU8(latent.data, shape);
    tensors.latent = { dtype: 'U8', shape, data: q };
    tensors['latent.scale'] = { dtype: 'F32', shape: [shape[1]], data: scale };
    tensors['latent.offset'] = { dtype: 'F32', shape: [shape[1]], data: offset };
  }
  const metadata: Record<string, string> = {
    format: 'sdvae-latent',
    version: '1',
    precision,
    model: meta.model,
    latent_space: meta.latentSpace,
    scaling_factor: String(meta.scalingFactor),
    scaled: 'true',
  };
  if (meta.source) metadata.source = meta.source;
  if (meta.sourceSize) metadata.source_size = JSON.stringify(meta.sourceSize);
  if (meta.crop) metadata.crop = meta.crop;
  if (meta.resize) metadata.resize = meta.resize;
  if (meta.sampling) metadata.sampling = meta.sampling;
  return { tensors, metadata };
}

/** A stored latent's file bytes (the page's "save latent"). */
export function encodeLatentFile(latent: StoredLatent, what = '<latent>'): Uint8Array {
  const { tensors, metadata } = latentTensors(latent, what);
  return encodeSafetensors(tensors, metadata);
}

/** A stored latent from a latent file's metadata and tensors (as readSafetensors or readAll give them). */
export function latentFromTensors(path: string, m: Record<string, string>, tensors: Map<string, LoadedTensor>): StoredLatent {
  if (m.format !== 'sdvae-latent') throw new Error(`${path}: not an sdvae latent file (metadata "format" is ${JSON.stringify(m.format)}, expected "sdvae-latent")`);
  const t = tensors.get('latent');
  if (!t || t.shape.length !== 4) throw new Error(`${path}: needs a 4-D tensor "latent" [N, C, h, w]`);
  const shape = t.shape as [number, number, number, number];
  const precision = m.precision as LatentPrecision;
  let data: Float32Array;
  if (precision === 'u8') {
    if (t.dtype !== 'U8') throw new Error(`${path}: precision u8 but "latent" is ${t.dtype}`);
    const scale = tensors.get('latent.scale');
    const offset = tensors.get('latent.offset');
    if (!scale || !offset || scale.data.length !== shape[1] || offset.data.length !== shape[1])
      throw new Error(`${path}: precision u8 needs tensors "latent.scale" and "latent.offset" of [${shape[1]}] values`);
    data = dequantizeU8(Uint8Array.from(t.data), Float32Array.from(scale.data), Float32Array.from(offset.data), shape);
  } else if (precision === 'fp32' || precision === 'fp16') {
    if (!(t.data instanceof Float32Array)) throw new Error(`${path}: precision ${precision} but "latent" is ${t.dtype}`);
    data = t.data;
  } else throw new Error(`${path}: unknown precision ${JSON.stringify(m.precision)} (fp32, fp16 or u8)`);
  assertFinite(data, path);
  const scalingFactor = Number(m.scaling_factor);
  if (!Number.isFinite(scalingFactor) || scalingFactor <= 0) throw new Error(`${path}: metadata scaling_factor ${JSON.stringify(m.scaling_factor)} is not a positive number`);
  return {
    data,
    shape,
    precision,
    meta: {
      model: m.model ?? 'unknown',
      latentSpace: m.latent_space ?? '',
      scalingFactor,
      source: m.source,
      sourceSize: m.source_size ? parseSourceSize(m.source_size, path) : undefined,
      crop: m.crop,
      resize: m.resize,
      sampling: m.sampling,
    },
  };
}

function parseSourceSize(text: string, path: string): [number, number] {
  try {
    const v = JSON.parse(text);
    if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0)) return v as [number, number];
  } catch {
    // reported below
  }
  throw new Error(`${path}: metadata source_size ${JSON.stringify(text)} is not [width, height]`);
}

/** Decoders produce garbage (or NaN everywhere) from a non-finite latent: refuse it up front. */
export function assertFinite(data: Float32Array, what: string): void {
  for (let i = 0; i < data.length; i++)
    if (!Number.isFinite(data[i])) throw new Error(`${what}: the latent contains ${Number.isNaN(data[i]) ? 'NaN' : 'Inf'} (at index ${i})`);
}

/** Errors when a latent made in one latent space is decoded by a model of another. */
export function checkCompatible(latent: StoredLatent, path: string, modelSpace: string, modelName: string): void {
  if (latent.meta.latentSpace && latent.meta.latentSpace !== modelSpace)
    throw new Error(`${path}: this latent was made by ${latent.meta.model} (latent space ${latent.meta.latentSpace}); ${modelName} decodes latent space ${modelSpace}`);
}
