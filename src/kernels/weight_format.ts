// How weights are stored on the GPU, and the WGSL that reads them.
//
// Every kernel that reads a weight computes in f32. The weight itself is stored in one of:
//
//   'f32'   array<f32>: one value per 32-bit word.
//   'f16'   IEEE half, two per u32 (element 2j in bits 0..15 of word j, element 2j+1 in bits 16..31:
//           little-endian, as a Uint16Array of the values would lie in memory), read with the core
//           built-in unpack2x16float. No `shader-f16` needed: adapters without it (SwiftShader,
//           compatibility mode, NVIDIA under Linux in browsers) read f16 weights the same way.
//   'bf16'  bfloat16, packed the same way; widened exactly by shifting into the high half of an f32
//           (WGSL has no bf16 type).
//
// Widening f16 or bf16 to f32 is exact, so an F16 checkpoint kept 16-bit on the GPU computes exactly
// what diffusers computes after upcasting it to f32: half the memory, no error. Storing an F32
// checkpoint as f16 is a choice with an error (rounding every weight to 11 significant bits):
// `weights: 'f16'`, measured in docs/benchmarks.md.
//
// The layout of a weight does not change with its format: element i of the f32 layout is element i
// of the packed one. A packed buffer holds an even number of elements (a zero is appended when needed),
// and vec4 reads (`load_w4`) need 4-element alignment, as their f32 form does.

import { bf16ToF32, f16ToF32, f32ToF16 } from '../io/dtype.js';

export type WeightFormat = 'f32' | 'f16' | 'bf16';

/** Which format each checkpoint dtype is stored in: as stored (the default), or all f16, or all f32. */
export type WeightStorage = 'as-stored' | 'f16' | 'f32';

export const WEIGHT_STORAGES: readonly WeightStorage[] = ['as-stored', 'f16', 'f32'];

/** Bytes per element. */
export const formatBytes = (f: WeightFormat) => (f === 'f32' ? 4 : 2);

/** Raw weight values as a checkpoint holds them: f32 values, or 16-bit patterns of f16 / bf16. */
export type RawWeight = { format: 'f32'; values: Float32Array } | { format: 'f16' | 'bf16'; bits: Uint16Array };

/** The format a weight of checkpoint dtype `dtype` is kept in under `storage`. */
export function storedFormat(dtype: WeightFormat, storage: WeightStorage): WeightFormat {
  return storage === 'as-stored' ? dtype : storage;
}

/** The values as f32 (exact for f16 and bf16). */
export function rawToF32(r: RawWeight): Float32Array {
  if (r.format === 'f32') return r.values;
  return r.format === 'f16' ? f16ToF32(r.bits) : bf16ToF32(r.bits);
}

/**
 * `r` converted to `format`: 16-bit to f32 is exact; f32 (or bf16) to f16 rounds to nearest even and
 * throws if a finite value overflows f16 (|x| > 65504: such a weight cannot be stored as f16).
 */
export function convertRaw(r: RawWeight, format: WeightFormat, what: string): RawWeight {
  if (r.format === format) return r;
  const f32 = rawToF32(r);
  if (format === 'f32') return { format, values: f32 };
  if (format === 'bf16') throw new Error(`${what}: converting to bf16 is not offered (store as f16 or f32)`);
  const bits = f32ToF16(f32);
  for (let i = 0; i < f32.length; i++) {
    if (Number.isFinite(f32[i]) && (bits[i] & 0x7c00) === 0x7c00)
      throw new Error(`${what}: value ${f32[i]} at index ${i} overflows f16; store this model's weights as f32 (weights: 'f32')`);
  }
  return { format, bits };
}

/** A permutation of the elements (out[i] = in[src(i)]), in the raw format (no rounding). */
export function permuteRaw(r: RawWeight, n: number, src: (i: number) => number): RawWeight {
  const from = r.format === 'f32' ? r.values : r.bits;
  const to = r.format === 'f32' ? new Float32Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i++) to[i] = from[src(i)];
  return r.format === 'f32' ? { format: 'f32', values: to as Float32Array } : { format: r.format, bits: to as Uint16Array };
}

/**
 * A conv weight from PyTorch's [Cout, Cin, kh, kw] to conv2d's GEMM layout [kh, kw, Cin, Cout], in the raw
 * format (no rounding): permuteRaw's result for that permutation, as plain nested loops (the generic
 * per-element index function cost ~3 s of a full SD VAE load: docs/benchmarks.md).
 */
export function convToGemmLayout(r: RawWeight, cout: number, cin: number, kh: number, kw: number): RawWeight {
  const taps = kh * kw;
  // Blocks of 16 output channels: each (ci, tap) then writes 16 neighbouring elements (measured 1.8x
  // faster than one output channel at a time).
  const reorder = <A extends Float32Array | Uint16Array>(from: A, to: A): A => {
    for (let co0 = 0; co0 < cout; co0 += 16)
      for (let ci = 0; ci < cin; ci++)
        for (let co = co0; co < Math.min(cout, co0 + 16); co++) {
          const s = (co * cin + ci) * taps;
          for (let t = 0; t < taps; t++) to[(t * cin + ci) * cout + co] = from[s + t];
        }
    return to;
  };
  const n = cout * cin * taps;
  return r.format === 'f32' ? { format: 'f32', values: reorder(r.values, new Float32Array(n)) } : { format: r.format, bits: reorder(r.bits, new Uint16Array(n)) };
}

/** The elements of several raw weights of one format, one after another. */
export function concatRaw(parts: RawWeight[]): RawWeight {
  const format = parts[0].format;
  if (parts.some((r) => r.format !== format)) throw new Error(`concatRaw: parts in different formats (${parts.map((r) => r.format)})`);
  const arrays = parts.map((r) => (r.format === 'f32' ? r.values : r.bits));
  const n = arrays.reduce((a, b) => a + b.length, 0);
  const out = format === 'f32' ? new Float32Array(n) : new Uint16Array(n);
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return format === 'f32' ? { format, values: out as Float32Array } : { format, bits: out as Uint16Array };
}

/** The 32-bit words to upload: f32 values, or 16-bit values packed two per word (zero padded). */
export function packWords(r: RawWeight): Uint32Array {
  if (r.format === 'f32') return new Uint32Array(r.values.buffer, r.values.byteOffset, r.values.length);
  const padded = new Uint16Array(Math.ceil(r.bits.length / 2) * 2);
  padded.set(r.bits);
  return new Uint32Array(padded.buffer);
}

/**
 * WGSL declaring the weight binding `name` and `fn load_<name>(i: u32) -> f32`, element i as f32.
 * With `vec4`, the binding is read 4 elements at a time: `fn load_<name>4(i: u32) -> vec4f` returns
 * elements 4i .. 4i+3.
 */
export function weightWgsl(binding: number, name: string, format: WeightFormat, vec4 = false): string {
  const decl = (ty: string) => `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${ty}>; // ${format} weight`;
  if (format === 'f32') {
    return vec4
      ? `${decl('vec4f')}\nfn load_${name}4(i: u32) -> vec4f { return ${name}[i]; }`
      : `${decl('f32')}\nfn load_${name}(i: u32) -> f32 { return ${name}[i]; }`;
  }
  // Two halves per word: element i is half (i & 1) of word i / 2.
  const half = format === 'f16'
    ? (w: string) => `unpack2x16float(${w})`
    : (w: string) => `vec2f(bitcast<f32>(${w} << 16u), bitcast<f32>(${w} & 0xffff0000u))`;
  return vec4
    ? `${decl('vec2u')}\nfn load_${name}4(i: u32) -> vec4f { let v = ${name}[i]; return vec4f(${half('v.x')}, ${half('v.y')}); }`
    : `${decl('u32')}\nfn load_${name}(i: u32) -> f32 { return ${half(`${name}[i >> 1u]`)}[i & 1u]; }`;
}
