// The bytes of one TorchTensor, and the ParamEntry the models load.
//
// A tensor is (storage, offset, size, stride), all in elements. A contiguous tensor (C-order strides,
// ignoring dimensions of size 1) is one positioned read of numel x element-size bytes at
// storage + offset. Otherwise (a transpose, a slice with a step) the span from the first to the last
// element it touches is read once and its elements are gathered in C order; the span lies inside the
// storage, which lies inside the file, so this never reads more than the file holds.
//
// ParamEntry carries F32, F16 or BF16 bytes as stored; F64, integer and bool tensors are converted to
// F32 values when read.

import type { ParamEntry } from '../models/params.js';
import type { SyncByteSource } from './byte_source.js';
import type { TorchTensor } from './torch_file.js';

export type TorchDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
export const TORCH_DTYPE_SIZE: Record<TorchDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/** Raw little-endian bytes in the tensor's dtype, C order, in a fresh ArrayBuffer. */
export function torchTensorBytes(reader: SyncByteSource, t: TorchTensor): Uint8Array {
  const es = TORCH_DTYPE_SIZE[t.dtype];
  const n = t.numel;
  if (n === 0) return new Uint8Array(0);
  const base = t.storage.offset + t.offset * es;
  if (isContiguous(t.shape, t.stride)) return reader.read(base, n * es);
  const span = t.shape.reduce((s, d, i) => s + (d - 1) * t.stride[i], 0) + 1;
  const src = reader.read(base, span * es);
  const out = new Uint8Array(n * es);
  const idx = new Array<number>(t.shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let at = 0;
    for (let d = 0; d < idx.length; d++) at += idx[d] * t.stride[d];
    out.set(src.subarray(at * es, at * es + es), k * es);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Values of raw bytes of `dtype` as float32 (the integer types and F64 convert, F16/BF16 widen). */
export function toF32(dtype: TorchDType, bytes: Uint8Array): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / TORCH_DTYPE_SIZE[dtype];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case 'F32': out[i] = dv.getFloat32(4 * i, true); break;
      case 'F64': out[i] = dv.getFloat64(8 * i, true); break;
      case 'F16': out[i] = halfToFloat(dv.getUint16(2 * i, true)); break;
      case 'BF16': out[i] = new Float32Array(new Uint32Array([dv.getUint16(2 * i, true) << 16]).buffer)[0]; break;
      case 'I64': out[i] = Number(dv.getBigInt64(8 * i, true)); break;
      case 'I32': out[i] = dv.getInt32(4 * i, true); break;
      case 'I16': out[i] = dv.getInt16(2 * i, true); break;
      case 'I8': out[i] = dv.getInt8(i); break;
      case 'U8': out[i] = dv.getUint8(i); break;
      case 'BOOL': out[i] = dv.getUint8(i) ? 1 : 0; break;
    }
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A ParamEntry reading the tensor when asked: F32/F16/BF16 as stored, anything else as F32. */
export function torchParamEntry(reader: SyncByteSource, t: TorchTensor, shape: readonly number[] = t.shape): ParamEntry {
  const keep = t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16';
  return {
    shape,
    dtype: keep ? (t.dtype as 'F32' | 'F16' | 'BF16') : 'F32',
    bytes: () => {
      const raw = torchTensorBytes(reader, t);
      return keep ? raw : new Uint8Array(toF32(t.dtype, raw).buffer);
    },
  };
}
