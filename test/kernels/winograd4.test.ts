// Winograd F(4x4, 3x3): the transform matrices (and F(2x2, 3x3)'s) against the direct convolution in float64, then the GPU
// path (variants 'winograd4' and 'winograd4-shared': both GEMM cores) on every 3x3 pad-1 reference case at the case's recommended tolerance
// (through convPolicy.winogradTile = 4, so the blocks' convs take it too), odd shapes against the
// CPU reference, and banding (banded == unbanded, exactly) under a forced small binding limit.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKernelCase } from '../../src/check/kernel_case.js';
import { maxAbsDiff } from '../../src/check/compare.js';
import { chooseConvVariant, conv2d, Conv2dWeight, convPolicy } from '../../src/kernels/conv2d.js';
import { conv2dRef, type Shape4 } from '../../src/kernels/reference.js';
import { AT4, BT4, G4 } from '../../src/kernels/winograd4.transforms.js';
import { AT2, BT2, G2 } from '../../src/kernels/winograd.transforms.js';
import { TOL } from '../tolerances.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';

const gpu = useGpu();
const PAD1 = [1, 1, 1, 1] as const;

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1) * scale);
}

type Mat = number[][];
const mul = (a: Mat, b: Mat): Mat => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const tr = (a: Mat): Mat => a[0].map((_, j) => a.map((row) => row[j]));

// Both sets the transforms are generated from (winograd.generator.ts): F(2x2, 3x3) and F(4x4, 3x3).
for (const [name, m, BT, G, AT] of [['F(2x2, 3x3)', 2, BT2, G2, AT2], ['F(4x4, 3x3)', 4, BT4, G4, AT4]] as [string, number, Mat, Mat, Mat][])
  describe(`winograd: the ${name} matrices (float64)`, () => {
    const n = m + 2;
    it(`Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A == the direct 3x3 correlation of a ${n}x${n} tile, to 1e-12`, () => {
      expect([BT.length, BT[0].length, G.length, G[0].length, AT.length, AT[0].length]).toEqual([n, n, n, 3, m, n]);
      let worst = 0;
      for (let trial = 0; trial < 50; trial++) {
        const r = rand(n * n + 9, 100 + trial);
        const d: Mat = [...Array(n)].map((_, i) => [...r.slice(n * i, n * i + n)]);
        const g: Mat = [...Array(3)].map((_, i) => [...r.slice(n * n + 3 * i, n * n + 3 + 3 * i)]);
        const u = mul(mul(G, g), tr(G));
        const v = mul(mul(BT, d), tr(BT));
        const y = mul(mul(AT, u.map((row, i) => row.map((x, j) => x * v[i][j]))), tr(AT));
        for (let i = 0; i < m; i++)
          for (let j = 0; j < m; j++) {
            let direct = 0;
            for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) direct += d[i + ky][j + kx] * g[ky][kx];
            worst = Math.max(worst, Math.abs(y[i][j] - direct));
          }
      }
      expect(worst).toBeLessThan(1e-12);
    });
  });

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

// Both GEMM cores: 'winograd4' (subgroup core, lavapipe's 8 lanes) and 'winograd4-shared' (workgroup
// memory, any adapter), each forced by convPolicy.winogradCore for the reference cases.
for (const [variant, core] of [['winograd4', 'subgroup'], ['winograd4-shared', 'shared']] as const) {
  describe(`winograd4 (${variant}): 3x3 pad-1 reference cases`, () => {
    const pad1 = (c: { params: Record<string, unknown> }) => JSON.stringify(c.params.padding) === '[1,1,1,1]' && JSON.stringify(c.params.kernel) === '[3,3]';
    const cases = kernelIndex().filter((c) => (c.op === 'conv2d' && pad1(c)) || c.op === 'upsample2d_conv' || c.op === 'resnet_block2d');
    const saved = convPolicy.winogradTile;
    const savedCore = convPolicy.winogradCore;
    beforeAll(() => { convPolicy.winogradCore = core; });
    afterAll(() => { convPolicy.winogradTile = saved; convPolicy.winogradCore = savedCore; });
    for (const c of cases)
      it(`${c.op}: ${c.case}`, async () => {
        convPolicy.winogradTile = 4;
        const k = Conv2dWeight.fromTorch(gpu(), new Float32Array(9), [1, 1, 3, 3]);
        expect(chooseConvVariant(gpu(), k, 1, PAD1)).toBe(variant);
        k.release();
        const r4 = await runKernelCase(gpu(), loadCase(c.file));
        convPolicy.winogradTile = 2;
        const r2 = await runKernelCase(gpu(), loadCase(c.file));
        convPolicy.winogradTile = saved;
        if (process.env.WINOGRAD_ERRORS) console.log(`F(4,3) vs F(2,3) (${core} core) ${c.op} ${c.case}: max abs err ${r4.maxAbsErr?.toExponential(2)} vs ${r2.maxAbsErr?.toExponential(2)} (atol ${c.recommended_atol})`);
        expect(r4.error).toBeUndefined();
        expect(r4.maxAbsErr).toBeLessThanOrEqual(c.recommended_atol);
      });
  });

  describe(`winograd4 (${variant}): shapes the fixtures lack, against the CPU reference`, () => {
    // [N, H, W, Cin, Cout]
    const cases: [string, number[]][] = [
      ['1x1 spatial', [1, 1, 1, 16, 8]],
      ['odd H and W, 3 -> 5', [1, 11, 9, 3, 5]],
      ['batch 2, odd sizes, 7 -> 13', [2, 9, 6, 7, 13]],
      ['130 -> 70 (not multiples of 32)', [1, 6, 7, 130, 70]],
      ['batch 3, 1 row', [3, 1, 10, 40, 36]],
      ['64 -> 96, 17x16', [1, 17, 16, 64, 96]],
      ['H, W = 4k + 2, 4k + 3', [1, 10, 11, 8, 12]],
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

  describe(`winograd4 (${variant}): banded == unbanded under a forced small binding limit`, () => {
    for (const [name, shape, limit] of [
      ['40x40x32 -> 32 (bands of 1 tile row)', [1, 40, 40, 32, 32], 40 * 1024],
      ['batch 2, 13x9x24 -> 40 (bands across images)', [2, 13, 9, 24, 40], 12 * 1024],
      // One tile row reads 6 input rows (12 KiB) > 8 KiB: the input is bound as two halves.
      ['16x16x32 -> 32, input split in two bindings', [1, 16, 16, 32, 32], 8 * 1024],
      ['batch 2, 10x12x20 -> 8, split, scalar loads', [2, 10, 12, 21, 8], 4 * 1024],
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
