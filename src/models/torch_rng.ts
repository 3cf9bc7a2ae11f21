// A reproduction of PyTorch's CPU generator for `torch.randn(shape, generator=g)` after
// `g = torch.Generator('cpu').manual_seed(seed)`, so that a seed gives the same consistency-decoder
// noise (and image) as diffusers. PyTorch 1.13 / 2.x CPU, float32:
//
//   engine: mt19937 (32-bit Mersenne Twister) seeded with the seed's low 32 bits.
//   float uniform in [0, 1): (next32() & (2^24 − 1)) / 2^24.
//   randn with >= 16 elements (contiguous float): fill every element with a uniform, then transform
//     each block of 16 with Box–Muller: for j < 8, u1 = 1 − d[j], u2 = d[j+8],
//     r = sqrt(−2·ln u1), θ = 2π·u2, d[j] = r·cos θ, d[j+8] = r·sin θ (float32 math, with the
//     vectorised log/sincos of the x86 AVX2 build: see boxMuller16);
//     when the count is not a multiple of 16, the last 16 elements are drawn again and transformed.
//   randn with < 16 elements: one double-precision Box–Muller sample per element (53-bit uniforms
//     from two 32-bit draws), cos branch; the sin branch is cached for the next scalar draw.

const N = 624;
const M = 397;

export class TorchGenerator {
  private mt = new Uint32Array(N);
  private index = N;
  private nextDoubleNormal: number | null = null;

  constructor(seed: number | bigint) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number | bigint): void {
    const s = BigInt.asUintN(64, BigInt(seed));
    this.mt[0] = Number(s & 0xffffffffn);
    for (let i = 1; i < N; i++) this.mt[i] = (Math.imul(1812433253, this.mt[i - 1] ^ (this.mt[i - 1] >>> 30)) + i) >>> 0;
    this.index = N;
    this.nextDoubleNormal = null;
  }

  /** The next 32-bit output of mt19937. */
  next32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** float32 uniform in [0, 1) with 24 random bits. */
  uniformFloat(): number {
    return (this.next32() & 0xffffff) / 16777216;
  }

  /** float64 uniform in [0, 1) with 53 random bits (two draws, the first is the high word). */
  uniformDouble(): number {
    const hi = this.next32();
    const lo = this.next32();
    const bits = ((BigInt(hi) << 32n) | BigInt(lo)) & ((1n << 53n) - 1n);
    return Number(bits) / 2 ** 53;
  }

  /** One scalar standard normal sample in double precision (torch's normal_distribution<double>). */
  normalDouble(): number {
    if (this.nextDoubleNormal !== null) {
      const v = this.nextDoubleNormal;
      this.nextDoubleNormal = null;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** torch.randn(shape, generator=this) as float32, in PyTorch's (row-major NCHW) order. */
  randn(shape: readonly number[]): Float32Array {
    const size = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(size);
    if (size < 16) {
      for (let i = 0; i < size; i++) out[i] = this.normalDouble();
      return out;
    }
    for (let i = 0; i < size; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= size; i += 16) boxMuller16(out, i);
    if (size % 16 !== 0) {
      const start = size - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformFloat();
      boxMuller16(out, start);
    }
    return out;
  }
}

const f = Math.fround;
/** fmaf(a, b, c): a*b is exact in float64 for float32 inputs, then one rounding to float32. */
const fma = (a: number, b: number, c: number) => f(a * b + c);

const i32 = new Int32Array(1);
const f32 = new Float32Array(i32.buffer);
const bitsOf = (x: number) => ((f32[0] = x), i32[0]);
const fromBits = (b: number) => ((i32[0] = b), f32[0]);

/**
 * torch's normal_fill_16_AVX2: float32 arithmetic with the log and sincos of avx_mathfun.h (Cephes
 * polynomials), not libm. Where the x86 build fused a multiply and an add into one FMA, so does this
 * (found by matching the reference noise bit for bit).
 */
function boxMuller16(d: Float32Array, o: number): void {
  const twoPi = f(2 * Math.PI);
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - d[o + j]);
    const u2 = d[o + j + 8];
    const radius = f(Math.sqrt(f(-2 * logf(u1))));
    const [sin, cos] = sincosf(f(twoPi * u2));
    d[o + j] = f(radius * cos);
    d[o + j + 8] = f(radius * sin);
  }
}

const LOG_P = [7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1].map(f);
const [SQRTHF, LOG_Q1, LOG_Q2] = [0.707106781186547524, -2.1219444e-4, 0.693359375].map(f);

/** avx_mathfun log256_ps for one positive float: log(m·2^e) = e·ln2 + log(m), m in [√½, √2). */
function logf(x0: number): number {
  let x = Math.max(x0, fromBits(0x00800000)); // no denormals
  let e = f((bitsOf(x) >>> 23) - 0x7f + 1);
  x = fromBits((bitsOf(x) & ~0x7f800000) | bitsOf(0.5)); // mantissa in [0.5, 1)
  const small = x < SQRTHF;
  const tmp = small ? x : 0;
  x = f(x - 1);
  e = f(e - (small ? 1 : 0));
  x = f(x + tmp);
  const z = f(x * x);
  let y = LOG_P[0];
  for (let i = 1; i < 9; i++) y = fma(y, x, LOG_P[i]);
  y = f(y * x);
  y = fma(y, z, f(e * LOG_Q1));
  y = f(y - f(z * 0.5));
  x = f(x + y);
  return f(x + f(e * LOG_Q2));
}

const [FOPI, DP1, DP2, DP3] = [1.27323954473516, -0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8].map(f);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f);

/** avx_mathfun sincos256_ps for one float: reduce to [-π/4, π/4] by octant, then a polynomial each. */
function sincosf(x0: number): [number, number] {
  let signSin = x0 < 0 ? 1 : 0;
  let x = Math.abs(x0);
  const octant = ((Math.trunc(f(x * FOPI)) | 0) + 1) & ~1;
  const y = f(octant);
  x = f(f(f(x + f(y * DP1)) + f(y * DP2)) + f(y * DP3)); // extended-precision x - y·π/4
  signSin ^= octant & 4 ? 1 : 0;
  const signCos = ~(octant - 2) & 4 ? 1 : 0;
  const z = f(x * x);
  let yc = f(f(f(COS_P[0] * z) + COS_P[1]) * z);
  yc = f(f(yc + COS_P[2]) * z);
  yc = f(fma(yc, z, -f(z * 0.5)) + 1);
  let ys = f(fma(fma(SIN_P[0], z, SIN_P[1]), z, SIN_P[2]) * z);
  ys = fma(ys, x, x);
  const cosPoly = (octant & 2) === 0;
  const sin = cosPoly ? ys : yc;
  const cos = cosPoly ? yc : ys;
  return [signSin ? -sin : sin, signCos ? -cos : cos];
}
