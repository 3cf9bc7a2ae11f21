// Element types of the safetensors format and conversions between float encodings.
//
// safetensors stores every tensor as raw little-endian bytes; the dtype string in the
// header ("F32", "F16", ...) says how to read them. The GPU code works in float32, so the
// readers widen half-precision data with the converters below. They work on raw bit
// patterns (Uint16Array / Uint32Array) rather than going through JS numbers where they
// can, so that NaN payloads and -0 survive and nothing is canonicalised on the way.
//
// IEEE 754 binary16 ("F16"):  1 sign bit | 5 exponent bits (bias 15)  | 10 fraction bits
// bfloat16 ("BF16"):          1 sign bit | 8 exponent bits (bias 127) |  7 fraction bits
// binary32 (float32):         1 sign bit | 8 exponent bits (bias 127) | 23 fraction bits
// bfloat16 is simply the top half of a float32, which makes it trivial to widen.

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<SafeDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export const SAFE_DTYPES = Object.keys(DTYPE_SIZE) as readonly SafeDType[];

export function isSafeDType(s: unknown): s is SafeDType {
  // hasOwnProperty rather than `in`, so that "toString" and friends are not dtypes.
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** Float32 bit pattern of one binary16 bit pattern (exact: every f16 value is an f32 value). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (frac << 13)) >>> 0; // inf, or NaN keeping its payload
  if (exp !== 0) return (sign | ((exp + 127 - 15) << 23) | (frac << 13)) >>> 0;
  if (frac === 0) return sign >>> 0; // +-0
  // Subnormal half (frac * 2^-24) is a normal float32: shift the leading 1 up into the
  // implicit-bit position, lowering the exponent once per shift.
  let e = 127 - 15 + 1;
  let f = frac;
  while ((f & 0x400) === 0) {
    f <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((f & 0x3ff) << 13)) >>> 0;
}

/** Nearest binary16 bit pattern to a float32 bit pattern, ties to even (IEEE default rounding). */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const frac = x & 0x7fffff;
  // NaN: keep the top payload bits and force the quiet bit so it cannot turn into inf.
  if (exp === 0xff) return sign | 0x7c00 | (frac !== 0 ? 0x200 | (frac >>> 13) : 0);
  const e = exp - 127 + 15; // exponent rebiased for half
  if (e >= 0x1f) return sign | 0x7c00; // too large: overflows to inf
  if (e <= 0) {
    // Result is subnormal (or zero): value = full * 2^(exp-150), and a subnormal half
    // counts units of 2^-24, so the half fraction is full >> (14 - e).
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    return sign | roundShift(frac | 0x800000, 14 - e); // may round up into the smallest normal
  }
  // Normal: drop 13 fraction bits. A carry out of the fraction bumps the exponent, which is
  // exactly right (and rounds 65520 and above to inf).
  return sign | ((e << 10) + roundShift(frac, 13));
}

/** value >> shift, rounded to nearest with ties to even. shift in 1..24. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

// All 65536 answers, built on first use (256 KiB): a table lookup beats decoding each
// value, which adds up over the hundreds of millions of weights in an F16 checkpoint.
let f16Table: Uint32Array | undefined;

export function f16ToF32(u16: Uint16Array): Float32Array {
  const table = (f16Table ??= Uint32Array.from({ length: 65536 }, (_, h) => f16BitsToF32Bits(h)));
  const bits = new Uint32Array(u16.length);
  for (let i = 0; i < u16.length; i++) bits[i] = table[u16[i]!]!;
  return new Float32Array(bits.buffer);
}

export function f32ToF16(f32: Float32Array): Uint16Array {
  const bits = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

export function bf16ToF32(u16: Uint16Array): Float32Array {
  const bits = new Uint32Array(u16.length);
  for (let i = 0; i < u16.length; i++) bits[i] = u16[i]! << 16;
  return new Float32Array(bits.buffer);
}

/** Nearest bfloat16 (ties to even); used to write BF16 test data. */
export function f32ToBf16(f32: Float32Array): Uint16Array {
  const bits = new Uint32Array(f32.buffer, f32.byteOffset, f32.length);
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    const isNaN = (x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0;
    // Adding 0x7fff (+1 when the kept part is odd) carries into bit 16 exactly when the
    // dropped half is above the midpoint, or at it with an odd kept part.
    out[i] = isNaN ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
