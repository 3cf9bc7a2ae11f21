// Every activation kernel's f16 variant against its f32 variant on random data (kernels/activation.ts).
//
// Each f16 kernel widens its f16 inputs to f32, runs the f32 kernel's arithmetic, and narrows the
// result once. So for inputs x16 (random values rounded to f16), f16_kernel(x16) must equal
// round_f16(f32_kernel(widen(x16))) to within one rounding: per element
//
//   |y16 - y32| <= TOL.f16Store · 2^-11 · |y32| + 2^-24            (y32 = the f32 kernel on the same inputs)
//
// (2^-11: half an ulp of f16, relative; TOL.f16Store = 2 admits rounding to either neighbour, which
// WGSL allows; 2^-24: f16's subnormal spacing). Pure copies (upsample, concat, slice) must be exact.
// The weights, the group-norm statistics and scale/shift are f32 in both runs.

import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { cast } from '../../src/kernels/activation.js';
import { avgPool2x2 } from '../../src/kernels/avg_pool.js';
import { concatChannels } from '../../src/kernels/concat.js';
import { conv2d, Conv2dWeight, type ConvVariant } from '../../src/kernels/conv2d.js';
import { add, axpby, clampTensor, expHalfClamped, fma, scale, silu } from '../../src/kernels/elementwise.js';
import { groupNorm } from '../../src/kernels/group_norm.js';
import { latentNormalize } from '../../src/kernels/latent_norm.js';
import { sliceChannels } from '../../src/kernels/slice.js';
import { upsampleNearest } from '../../src/kernels/upsample.js';
import { f32ToF16, f16ToF32 } from '../../src/io/dtype.js';
import { TOL } from '../tolerances.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();
const U = 2 ** -11;

function rand(n: number, seed: number, amp = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => amp * (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1));
}

/** The same random activation as an f32 tensor of f16-representable values and as an f16 tensor. */
function pair(g: Gpu, shape: number[], seed: number, amp = 4): { t32: Tensor; t16: Tensor } {
  const n = shape.reduce((a, b) => a * b, 1);
  const rounded = f16ToF32(f32ToF16(rand(n, seed, amp)));
  const t32 = g.upload(rounded, shape, `x${seed}`);
  return { t32, t16: cast(g, t32, 'f16') };
}

/** Runs op on the f32 and f16 inputs and checks the f16 output is the f32 one rounded once. */
async function expectOneRounding(op: (xs: Tensor[]) => Tensor, inputs: { t32: Tensor; t16: Tensor }[], exact = false): Promise<void> {
  const y32 = op(inputs.map((i) => i.t32));
  const y16 = op(inputs.map((i) => i.t16));
  expect(y32.dtype).toBe('f32');
  expect(y16.dtype).toBe('f16');
  expect(y16.byteLength).toBe(Math.ceil(y16.size / 2) * 4);
  const [a, b] = [await y32.read(), await y16.read()];
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const bound = exact ? 0 : TOL.f16Store * U * Math.abs(a[i]) + 2 ** -24;
    worst = Math.max(worst, Math.abs(b[i] - a[i]) - bound);
  }
  expect(worst).toBeLessThanOrEqual(0);
  // Not vacuous: the f16 output differs from the f32 one somewhere unless the op is a copy.
  if (!exact) expect(a.some((v, i) => v !== b[i])).toBe(true);
  [y32, y16, ...inputs.flatMap((i) => [i.t32, i.t16])].forEach((t) => t.release());
}

function weight(g: Gpu, cin: number, cout: number, k: number): Conv2dWeight {
  return new Conv2dWeight(g.upload(rand(k * k * cin * cout, 7, 0.3), [k * k * cin, cout]), g.upload(rand(cout, 8), [cout]), cout, cin, k, k);
}

describe('f16 activations: conv2d', () => {
  const shapes: [string, number[], number, number, ConvVariant[]][] = [
    ['3x3 vec4 (Cin, Cout % 4 == 0)', [1, 9, 7, 32], 16, 3, ['tiled', 'subgroup', 'winograd', 'winograd4', 'winograd-shared', 'winograd4-shared']],
    ['3x3 scalar (Cin 3, Cout 6)', [2, 6, 5, 3], 6, 3, ['tiled', 'subgroup', 'winograd', 'winograd4', 'winograd-shared', 'winograd4-shared']],
    ['1x1', [1, 5, 6, 8], 12, 1, ['tiled', 'subgroup']],
  ];
  for (const [name, shape, cout, k, variants] of shapes)
    for (const variant of variants)
      it(`${name}, ${variant}`, async () => {
        const g = gpu();
        const w = weight(g, shape[3], cout, k);
        const pad = k === 3 ? ([1, 1, 1, 1] as const) : undefined;
        await expectOneRounding(([x]) => conv2d(g, x, w, { variant, padding: pad }), [pair(g, shape, 1)]);
        w.release();
      });
  it('strided, asymmetric padding (Downsample2D)', async () => {
    const g = gpu();
    const w = weight(g, 8, 8, 3);
    await expectOneRounding(([x]) => conv2d(g, x, w, { stride: 2, padding: [0, 1, 0, 1] }), [pair(g, [1, 9, 8, 8], 2)]);
    w.release();
  });
});

describe('f16 activations: group norm', () => {
  const cases: [string, number[], number, boolean, boolean][] = [
    ['row kernels, silu', [1, 6, 5, 64], 32, true, false],
    ['row kernels, scale/shift (f32) + silu', [2, 4, 3, 32], 8, true, true],
    ['scalar kernels (C 6)', [1, 5, 4, 6], 3, false, false],
    ['wide row kernels (C 1280), scale/shift (f32) + silu', [1, 3, 4, 1280], 32, true, true],
    ['row stats with 2 channels per group', [1, 4, 4, 64], 32, false, false],
  ];
  for (const [name, shape, groups, siluOn, ss] of cases)
    it(name, async () => {
      const g = gpu();
      const c = shape[3];
      const [gamma, beta] = [g.upload(rand(c, 3), [c]), g.upload(rand(c, 4), [c])];
      const scaleShift = ss ? g.upload(rand(shape[0] * 2 * c, 5), [shape[0], 2 * c]) : undefined;
      await expectOneRounding(([x]) => groupNorm(g, x, gamma, beta, { groups, eps: 1e-6, silu: siluOn, scaleShift }), [pair(g, shape, 6, 20)]);
      [gamma, beta, scaleShift].forEach((t) => t?.release());
    });
  it('refuses an f16 scale/shift (the time embedding path stays f32)', () => {
    const g = gpu();
    const { t16 } = pair(g, [1, 2, 2, 8], 9);
    const [gamma, beta] = [g.upload(rand(8, 3), [8]), g.upload(rand(8, 4), [8])];
    const ss16 = cast(g, g.upload(rand(16, 1), [1, 16]), 'f16');
    expect(() => groupNorm(g, t16, gamma, beta, { groups: 2, eps: 1e-6, scaleShift: ss16 })).toThrow(/scale\/shift must be f32/);
  });
});

describe('f16 activations: elementwise', () => {
  for (const n of [4096, 1023]) {
    const label = n % 4 ? 'scalar' : 'vec4';
    it(`silu, add, (a+b)/s, axpby, scale, clamp, exp, fma (${label})`, async () => {
      const g = gpu();
      const p = (s: number) => pair(g, [n], s);
      await expectOneRounding(([x]) => silu(g, x), [p(1)]);
      await expectOneRounding(([a, b]) => add(g, a, b), [p(2), p(3)]);
      await expectOneRounding(([a, b]) => add(g, a, b, 1.4142135), [p(4), p(5)]);
      await expectOneRounding(([a, b]) => axpby(g, 0.3, a, -1.7, b), [p(6), p(7)]);
      await expectOneRounding(([x]) => scale(g, 0.18215, x), [p(8)]);
      await expectOneRounding(([x]) => clampTensor(g, x, -1, 1), [p(9)], true); // exact: clamping f16 values gives f16 values
      await expectOneRounding(([x]) => expHalfClamped(g, x), [p(10)]);
      await expectOneRounding(([a, b, c]) => fma(g, a, b, c), [p(11), p(12), p(13)]);
    });
  }
  it('mixed inputs: an f16 and an f32 operand give an output stored like the first', async () => {
    const g = gpu();
    const [a, b] = [pair(g, [64], 1), pair(g, [64], 2)];
    const y = add(g, a.t16, b.t32);
    expect(y.dtype).toBe('f16');
    const want = add(g, a.t32, b.t32);
    const [got, ref] = [await y.read(), await want.read()];
    got.forEach((v, i) => expect(Math.abs(v - ref[i])).toBeLessThanOrEqual(TOL.f16Store * U * Math.abs(ref[i]) + 2 ** -24));
  });
});

describe('f16 activations: copies and small ops', () => {
  it('nearest upsample (row and scalar kernels) is exact', async () => {
    const g = gpu();
    await expectOneRounding(([x]) => upsampleNearest(g, x, 2), [pair(g, [1, 3, 4, 8], 1)], true);
    await expectOneRounding(([x]) => upsampleNearest(g, x, 8), [pair(g, [2, 2, 3, 3], 2)], true);
  });
  it('channel concat (row and scalar kernels) is exact, and refuses mixed dtypes', async () => {
    const g = gpu();
    await expectOneRounding(([a, b]) => concatChannels(g, a, b), [pair(g, [1, 3, 4, 8], 1), pair(g, [1, 3, 4, 4], 2)], true);
    await expectOneRounding(([a, b]) => concatChannels(g, a, b), [pair(g, [1, 3, 5, 3], 3), pair(g, [1, 3, 5, 4], 4)], true);
    const [a, b] = [pair(g, [1, 2, 2, 4], 5), pair(g, [1, 2, 2, 4], 6)];
    expect(() => concatChannels(g, a.t16, b.t32)).toThrow(/is f16 but .* is f32/);
  });
  it('channel slice is exact', async () => {
    const g = gpu();
    await expectOneRounding(([x]) => sliceChannels(g, x, 1, 4), [pair(g, [1, 3, 5, 6], 1)], true);
  });
  it('2x2 average pool', async () => {
    const g = gpu();
    await expectOneRounding(([x]) => avgPool2x2(g, x), [pair(g, [1, 7, 6, 8], 1)]);
  });
  it('latent normalisation', async () => {
    const g = gpu();
    await expectOneRounding(([x]) => latentNormalize(g, x, 0.18215, [0.38, 0.06, 0.24, -0.1], [0.9, 1.1, 0.7, 0.8]), [pair(g, [1, 3, 5, 4], 1)]);
  });
});

describe('f16 activations: cast', () => {
  it('f32 -> f16 rounds each value to a neighbouring f16 (nearest on this adapter), f16 -> f32 is exact', async () => {
    const g = gpu();
    const x = rand(3001, 5, 1000); // odd length: the last 32-bit word holds one half
    const t = g.upload(x, [3001]);
    const h = cast(g, t, 'f16');
    expect(h.dtype).toBe('f16');
    expect(h.byteLength).toBe(1501 * 4);
    const back = cast(g, h, 'f32');
    const [viaRead, viaCast] = [await h.read(), await back.read()];
    const nearest = f16ToF32(f32ToF16(x));
    expect(viaCast).toEqual(viaRead);
    let maxUlps = 0;
    x.forEach((v, i) => (maxUlps = Math.max(maxUlps, Math.abs(viaRead[i] - v) / (U * Math.abs(v) + 2 ** -24))));
    expect(maxUlps).toBeLessThanOrEqual(TOL.f16Store);
    expect(viaRead.filter((v, i) => v !== nearest[i]).length).toBe(0);
    expect(cast(g, t, 'f32')).toBe(t); // already f32: the same tensor
    [t, h, back].forEach((u) => u.release());
  });
});
