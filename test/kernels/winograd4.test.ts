// Winograd F(4x4, 3x3): the transform matrices (and F(2x2, 3x3)'s) against the direct convolution in float64, then the GPU
// path (variants 'winograd4' and 'winograd4-shared': both GEMM cores) on every 3x3 pad-1 reference case at the case's recommended tolerance
// (through convPolicy.winogradTile = 4, so the blocks' convs take it too), odd shapes against the
// CPU reference, and banding (banded == unbanded, exactly) under a forced small binding limit.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKernelCase } from '../../src/check/kernel_case.js';
import { chooseConvVariant, Conv2dWeight, convPolicy } from '../../src/kernels/conv2d.js';
import { AT4, BT4, G4 } from '../../src/kernels/winograd4.transforms.js';
import { AT2, BT2, G2 } from '../../src/kernels/winograd.transforms.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';
import { bandedEqualsUnbanded, ODD_SHAPES, PAD1, rand, shapesAgainstCpu } from './winograd_cases.js';

const gpu = useGpu();
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

  shapesAgainstCpu(gpu, `winograd4 (${variant})`, variant, [...ODD_SHAPES, ['H, W = 4k + 2, 4k + 3', [1, 10, 11, 8, 12]]]);
  bandedEqualsUnbanded(gpu, `winograd4 (${variant})`, variant, [
    ['40x40x32 -> 32 (bands of 1 tile row)', [1, 40, 40, 32, 32], 40 * 1024],
    ['batch 2, 13x9x24 -> 40 (bands across images)', [2, 13, 9, 24, 40], 12 * 1024],
    // One tile row reads 6 input rows (12 KiB) > 8 KiB: the input is bound as two halves.
    ['16x16x32 -> 32, input split in two bindings', [1, 16, 16, 32, 32], 8 * 1024],
    ['batch 2, 10x12x20 -> 8, split, scalar loads', [2, 10, 12, 21, 8], 4 * 1024],
  ]);
}
