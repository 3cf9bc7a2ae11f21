// The stored-latent format: one safetensors file.
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

import { existsSync } from 'node:fs';
import { f16ToF32, f32ToF16 } from './dtype.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from './safetensors.js';

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

export function writeLatentFile(path: string, latent: StoredLatent, opts: { force?: boolean } = {}): void {
  assertFinite(latent.data, path);
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
  if (!opts.force && existsSync(path)) throw new Error(`${path} already exists; use --force to overwrite it`);
  writeSafetensors(path, tensors, metadata);
}

export function readLatentFile(path: string): StoredLatent {
  const file = SafetensorsFile.open(path);
  try {
    const m = file.metadata;
    if (m.format !== 'sdvae-latent') throw new Error(`${path}: not an sdvae latent file (metadata "format" is ${JSON.stringify(m.format)}, expected "sdvae-latent")`);
    const info = file.tensors.get('latent');
    if (!info || info.shape.length !== 4) throw new Error(`${path}: needs a 4-D tensor "latent" [N, C, h, w]`);
    const shape = info.shape as [number, number, number, number];
    const precision = m.precision as LatentPrecision;
    let data: Float32Array;
    if (precision === 'u8') {
      if (info.dtype !== 'U8') throw new Error(`${path}: precision u8 but "latent" is ${info.dtype}`);
      data = dequantizeU8(file.readBytes('latent'), file.readF32('latent.scale'), file.readF32('latent.offset'), shape);
    } else if (precision === 'fp32' || precision === 'fp16') {
      data = file.readF32('latent');
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
        sourceSize: m.source_size ? JSON.parse(m.source_size) : undefined,
        crop: m.crop,
        resize: m.resize,
        sampling: m.sampling,
      },
    };
  } finally {
    file.close();
  }
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
