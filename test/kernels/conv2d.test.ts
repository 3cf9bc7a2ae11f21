import { describe, expect, it } from 'vitest';
import { runKernelCase } from '../../src/check/kernel_case.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';

const gpu = useGpu();

describe('conv2d reference cases', () => {
  for (const c of kernelIndex().filter((c) => c.op === 'conv2d' || c.op === 'downsample2d_conv')) {
    it(c.case, async () => {
      const r = await runKernelCase(gpu(), loadCase(c.file));
      expect(r.error).toBeUndefined();
      expect(r.maxAbsErr).toBeLessThanOrEqual(c.recommended_atol);
    });
  }
});
