// Winograd F(2x2, 3x3) conv2d (variants 'winograd' and 'winograd-shared'; F(4x4, 3x3) is in winograd4.test.ts): every 3x3 pad-1 reference case (and the blocks built on such convs)
// through the Winograd path at the case's recommended tolerance, shapes the fixtures lack against the
// CPU reference, and banding (banded == unbanded, exactly) under a forced small binding limit.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKernelCase } from '../../src/check/kernel_case.js';
import { maxAbsDiff } from '../../src/check/compare.js';
import { chooseConvVariant, conv2d, Conv2dWeight, convPolicy } from '../../src/kernels/conv2d.js';
import { conv2dRef, type Shape4 } from '../../src/kernels/reference.js';
import { TOL } from '../tolerances.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';

const gpu = useGpu();
const PAD1 = [1, 1, 1, 1] as const;

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1) * scale);
}

/** Input [N, H, W, Cin] in [-1, 1) and a PyTorch-initialised 3x3 weight (|w| < 1/sqrt(9 Cin)): outputs are O(1). */
function problem([n, h, w, cin, cout]: number[]) {
  const x = rand(n * h * w * cin, 1);
  const wt = rand(cout * cin * 9, 2, 1 / Math.sqrt(9 * cin));
  const b = rand(cout, 3, 0.5);
  const xt = gpu().upload(x, [n, h, w, cin]);
  const weight = Conv2dWeight.fromTorch(gpu(), wt, [cout, cin, 3, 3], b);
  const ref = conv2dRef(x, [n, h, w, cin] as Shape4, wt, [cout, cin, 3, 3], b, 1, PAD1).y;
  return { xt, weight, ref };
}

// Both GEMM cores: 'winograd' (subgroup core, lavapipe's 8 lanes) and 'winograd-shared' (workgroup
// memory, any adapter), each forced by convPolicy.winogradCore for the reference cases.
for (const [variant, core] of [['winograd', 'subgroup'], ['winograd-shared', 'shared']] as const) {
  describe(`winograd (${variant}): 3x3 pad-1 reference cases`, () => {
    const pad1 = (c: { params: Record<string, unknown> }) => JSON.stringify(c.params.padding) === '[1,1,1,1]' && JSON.stringify(c.params.kernel) === '[3,3]';
    const cases = kernelIndex().filter((c) => (c.op === 'conv2d' && pad1(c)) || c.op === 'upsample2d_conv' || c.op === 'resnet_block2d');
    it('covers the 3x3 pad-1 conv cases', () => expect(cases.length).toBeGreaterThanOrEqual(8));
    // The automatic choice may be F(4x4, 3x3) (winograd4.test.ts): pin F(2x2, 3x3) for these.
    const saved = { ...convPolicy };
    beforeAll(() => { convPolicy.winogradTile = 2; convPolicy.winogradCore = core; });
    afterAll(() => { Object.assign(convPolicy, saved); });
    for (const c of cases)
      it(`${c.op}: ${c.case}`, async () => {
        // With winogradTile = 2 and this core, conv2d picks F(2x2, 3x3) on it for every 3x3 pad-1 conv on this adapter (the blocks' convs included).
        const k = Conv2dWeight.fromTorch(gpu(), new Float32Array(9), [1, 1, 3, 3]);
        expect(chooseConvVariant(gpu(), k, 1, PAD1)).toBe(variant);
        k.release();
        const r = await runKernelCase(gpu(), loadCase(c.file));
        expect(r.error).toBeUndefined();
        expect(r.maxAbsErr).toBeLessThanOrEqual(c.recommended_atol);
      });
  });

  describe(`winograd (${variant}): shapes the fixtures lack, against the CPU reference`, () => {
    // [N, H, W, Cin, Cout]
    const cases: [string, number[]][] = [
      ['1x1 spatial', [1, 1, 1, 16, 8]],
      ['odd H and W, 3 -> 5', [1, 11, 9, 3, 5]],
      ['batch 2, odd sizes, 7 -> 13', [2, 9, 6, 7, 13]],
      ['130 -> 70 (not multiples of 32)', [1, 6, 7, 130, 70]],
      ['batch 3, 1 row', [3, 1, 10, 40, 36]],
      ['64 -> 96, 17x16', [1, 17, 16, 64, 96]],
    ];
    for (const [name, shape] of cases)
      it(name, async () => {
        const { xt, weight, ref } = problem(shape);
        const y = conv2d(gpu(), xt, weight, { padding: PAD1, variant });
        expect(y.shape).toEqual([shape[0], shape[1], shape[2], shape[4]]);
        expect(maxAbsDiff(await y.read(), ref)).toBeLessThanOrEqual(TOL.kernel);
        [xt, y].forEach((t) => t.release());
        weight.release();
      });
  });

  describe(`winograd (${variant}): banded == unbanded under a forced small binding limit`, () => {
    for (const [name, shape, limit] of [
      ['40x40x32 -> 32 (bands of 1 tile row)', [1, 40, 40, 32, 32], 24 * 1024],
      ['batch 2, 13x9x24 -> 40 (bands of 2 tile rows, across images)', [2, 13, 9, 24, 40], 8 * 1024],
    ] as [string, number[], number][])
      it(name, async () => {
        const g = gpu();
        const { xt, weight, ref } = problem(shape);
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
