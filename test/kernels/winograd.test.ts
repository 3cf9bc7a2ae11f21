// Winograd F(2x2, 3x3) conv2d (variants 'winograd' and 'winograd-shared'; F(4x4, 3x3) is in winograd4.test.ts): every 3x3 pad-1 reference case (and the blocks built on such convs)
// through the Winograd path at the case's recommended tolerance, shapes the fixtures lack against the
// CPU reference, and banding (banded == unbanded, exactly) under a forced small binding limit.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKernelCase } from '../../src/check/kernel_case.js';
import { chooseConvVariant, Conv2dWeight, convPolicy } from '../../src/kernels/conv2d.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';
import { bandedEqualsUnbanded, ODD_SHAPES, PAD1, shapesAgainstCpu } from './winograd_cases.js';

const gpu = useGpu();
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

  shapesAgainstCpu(gpu, `winograd (${variant})`, variant, ODD_SHAPES);
  bandedEqualsUnbanded(gpu, `winograd (${variant})`, variant, [
    ['40x40x32 -> 32 (bands of 1 tile row)', [1, 40, 40, 32, 32], 24 * 1024],
    ['batch 2, 13x9x24 -> 40 (bands of 2 tile rows, across images)', [2, 13, 9, 24, 40], 8 * 1024],
  ]);
}
