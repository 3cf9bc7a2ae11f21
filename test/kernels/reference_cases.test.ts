// Every kernel case of the reference (kernels/index.json) at its recommended tolerance.
import { describe, expect, it } from 'vitest';
import { runKernelCase } from '../../src/check/kernel_case.js';
import { KERNEL_OPS } from '../../src/check/ops.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';

const gpu = useGpu();

describe('reference kernel cases', () => {
  for (const c of kernelIndex()) {
    it(`${c.op}: ${c.case}`, async () => {
      expect(Object.keys(KERNEL_OPS)).toContain(c.op);
      const r = await runKernelCase(gpu(), loadCase(c.file));
      expect(r.error).toBeUndefined();
      expect(r.atol).toBe(c.recommended_atol);
      expect(r.maxAbsErr).toBeLessThanOrEqual(c.recommended_atol);
    });
  }
});
