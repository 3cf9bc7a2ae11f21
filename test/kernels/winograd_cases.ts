// What the Winograd tests of both tile sizes (winograd.test.ts: F(2x2, 3x3), winograd4.test.ts:
// F(4x4, 3x3)) share: seeded random problems with their CPU reference, the shapes the fixtures lack
// against that reference, and banded == unbanded (exactly) under a forced small binding limit.

import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../../src/check/compare.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { conv2d, Conv2dWeight, type ConvVariant } from '../../src/kernels/conv2d.js';
import { conv2dRef, type Shape4 } from '../../src/kernels/reference.js';
import { TOL } from '../tolerances.js';

export const PAD1 = [1, 1, 1, 1] as const;

/** n values in [-1, 1) * scale from a seeded LCG. */
export function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1) * scale);
}

/** Input [N, H, W, Cin] in [-1, 1) and a PyTorch-initialised 3x3 weight (|w| < 1/sqrt(9 Cin)): outputs are O(1). */
export function problem(gpu: Gpu, [n, h, w, cin, cout]: number[]) {
  const x = rand(n * h * w * cin, 1);
  const wt = rand(cout * cin * 9, 2, 1 / Math.sqrt(9 * cin));
  const b = rand(cout, 3, 0.5);
  const xt = gpu.upload(x, [n, h, w, cin]);
  const weight = Conv2dWeight.fromTorch(gpu, wt, [cout, cin, 3, 3], b);
  const ref = conv2dRef(x, [n, h, w, cin] as Shape4, wt, [cout, cin, 3, 3], b, 1, PAD1).y;
  return { xt, weight, ref };
}

/** [name, [N, H, W, Cin, Cout]]: odd sizes, channels off the 32 grid, batches, single rows and pixels. */
export const ODD_SHAPES: [string, number[]][] = [
  ['1x1 spatial', [1, 1, 1, 16, 8]],
  ['odd H and W, 3 -> 5', [1, 11, 9, 3, 5]],
  ['batch 2, odd sizes, 7 -> 13', [2, 9, 6, 7, 13]],
  ['130 -> 70 (not multiples of 32)', [1, 6, 7, 130, 70]],
  ['batch 3, 1 row', [3, 1, 10, 40, 36]],
  ['64 -> 96, 17x16', [1, 17, 16, 64, 96]],
];

/** `variant` on each shape against the CPU reference, at the kernel tolerance. */
export function shapesAgainstCpu(gpu: () => Gpu, title: string, variant: ConvVariant, shapes: [string, number[]][]): void {
  describe(`${title}: shapes the fixtures lack, against the CPU reference`, () => {
    for (const [name, shape] of shapes)
      it(name, async () => {
        const { xt, weight, ref } = problem(gpu(), shape);
        const y = conv2d(gpu(), xt, weight, { padding: PAD1, variant });
        expect(y.shape).toEqual([shape[0], shape[1], shape[2], shape[4]]);
        expect(maxAbsDiff(await y.read(), ref)).toBeLessThanOrEqual(TOL.kernel);
        [xt, y].forEach((t) => t.release());
        weight.release();
      });
  });
}

/** `variant` banded under each forced binding limit (bytes) equals its unbanded run bit for bit (and the reference). */
export function bandedEqualsUnbanded(gpu: () => Gpu, title: string, variant: ConvVariant, cases: [string, number[], number][]): void {
  describe(`${title}: banded == unbanded under a forced small binding limit`, () => {
    for (const [name, shape, limit] of cases)
      it(name, async () => {
        const g = gpu();
        const { xt, weight, ref } = problem(g, shape);
        const opts = { padding: PAD1, variant } as const;
        const whole = await conv2d(g, xt, weight, opts).read();
        const saved = g.maxBindingBytes;
        g.maxBindingBytes = limit;
        try {
          const banded = await conv2d(g, xt, weight, opts).read();
          expect(banded).toEqual(whole);
        } finally {
          g.maxBindingBytes = saved;
        }
        expect(maxAbsDiff(whole, ref)).toBeLessThanOrEqual(TOL.kernel);
        xt.release();
        weight.release();
      });
  });
}
