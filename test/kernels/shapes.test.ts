// Shapes the PyTorch fixtures do not cover (1x1 spatial, batch 2, channel counts that are not
// multiples of the tile sizes), against the CPU references in src/kernels/reference.ts. The tolerance
// is the reference README's kernel tolerance (TOL below), scaled by the number of terms summed.
import { describe, expect, it } from 'vitest';
import { conv2d, Conv2dWeight } from '../../src/kernels/conv2d.js';
import { avgPool2x2 } from '../../src/kernels/avg_pool.js';
import { concatChannels } from '../../src/kernels/concat.js';
import { silu } from '../../src/kernels/elementwise.js';
import { groupNorm } from '../../src/kernels/group_norm.js';
import { upsampleNearest } from '../../src/kernels/upsample.js';
import { avgPool2x2Ref, concatRef, conv2dRef, groupNormRef, siluRef, upsampleNearestRef, type Shape4 } from '../../src/kernels/reference.js';
import { maxAbsDiff } from '../../src/check/compare.js';
import { TOL } from '../tolerances.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

describe('conv2d on shapes the fixtures lack', () => {
  const cases: { x: Shape4; w: Shape4; stride: number; pad: number[] }[] = [
    { x: [1, 1, 1, 8], w: [16, 8, 3, 3], stride: 1, pad: [1, 1, 1, 1] },
    { x: [2, 5, 7, 7], w: [13, 7, 3, 3], stride: 1, pad: [1, 1, 1, 1] },
    { x: [1, 9, 6, 3], w: [5, 3, 3, 3], stride: 2, pad: [0, 1, 0, 1] },
    { x: [1, 6, 5, 130], w: [70, 130, 1, 1], stride: 1, pad: [0, 0, 0, 0] },
    { x: [2, 8, 8, 4], w: [6, 4, 5, 5], stride: 1, pad: [2, 2, 2, 2] },
  ];
  for (const c of cases)
    it(`x[${c.x}] w[${c.w}] s${c.stride} pad ${c.pad}`, async () => {
      const x = rand(size(c.x), 1);
      const w = rand(size(c.w), 2, 1 / Math.sqrt(c.w[1] * c.w[2] * c.w[3]));
      const b = rand(c.w[0], 3, 0.1);
      const ref = conv2dRef(x, c.x, w, c.w, b, c.stride, c.pad);
      const xt = gpu().upload(x, c.x);
      const k = Conv2dWeight.fromTorch(gpu(), w, c.w, b);
      const y = conv2d(gpu(), xt, k, { stride: c.stride, padding: c.pad as [number, number, number, number] });
      expect(y.shape).toEqual(ref.shape);
      expect(maxAbsDiff(await y.read(), ref.y)).toBeLessThanOrEqual(TOL.kernel);
      for (const t of [xt, y]) t.release();
      k.release();
    });
});

describe('other kernels on odd shapes', () => {
  const shapes: Shape4[] = [[1, 1, 1, 32], [2, 3, 5, 96], [1, 7, 3, 64]];
  for (const s of shapes) {
    it(`group_norm (+silu) [${s}]`, async () => {
      const x = rand(size(s), 4, 3);
      const g = rand(s[3], 5, 0.1).map((v) => 1 + v);
      const b = rand(s[3], 6, 0.1);
      const [xt, gt, bt] = [gpu().upload(x, s), gpu().upload(g, [s[3]]), gpu().upload(b, [s[3]])];
      for (const act of [false, true]) {
        const y = groupNorm(gpu(), xt, gt, bt, { groups: 32, eps: 1e-6, silu: act });
        expect(maxAbsDiff(await y.read(), groupNormRef(x, s, g, b, 32, 1e-6, act))).toBeLessThanOrEqual(TOL.kernel);
        y.release();
      }
      for (const t of [xt, gt, bt]) t.release();
    });
    it(`upsample / avg pool / concat / silu [${s}]`, async () => {
      const x = rand(size(s), 7, 2);
      const xt = gpu().upload(x, s);
      const up = upsampleNearest(gpu(), xt, 2);
      expect(await up.read()).toEqual(upsampleNearestRef(x, s, 2));
      const pooled = avgPool2x2(gpu(), up); // (2x2 of equal values) / 4 = the input again
      expect(maxAbsDiff(await pooled.read(), x)).toBe(0);
      const cat = concatChannels(gpu(), xt, pooled);
      expect(await cat.read()).toEqual(concatRef(x, s[3], x, s[3]));
      const act = silu(gpu(), xt);
      expect(maxAbsDiff(await act.read(), siluRef(x))).toBeLessThanOrEqual(TOL.kernel);
      for (const t of [xt, up, pooled, cat, act]) t.release();
    });
  }
  it('avg pool drops odd trailing rows/cols', async () => {
    const s: Shape4 = [2, 5, 3, 3];
    const x = rand(size(s), 8);
    const xt = gpu().upload(x, s);
    const y = avgPool2x2(gpu(), xt);
    expect(y.shape).toEqual([2, 2, 1, 3]);
    expect(maxAbsDiff(await y.read(), avgPool2x2Ref(x, s))).toBeLessThanOrEqual(TOL.kernel);
    xt.release();
    y.release();
  });
});
