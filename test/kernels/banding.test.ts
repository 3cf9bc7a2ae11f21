// Tensors larger than one storage binding: every reference case is run again with the planning limit
// forced down (64 KiB down to 1 KiB), so that its activations are split into bands of rows. The
// banded result must equal the unbanded one exactly: banding may not change any arithmetic.
// (Parameters are bound whole, within the adapter's real limit; only activations are banded.)
import { afterEach, describe, expect, it } from 'vitest';
import { KERNEL_OPS } from '../../src/check/ops.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';

const gpu = useGpu();
const LIMITS = [65536, 16384, 4096, 1024];

describe('every kernel case under a forced small binding limit equals the unbanded result', () => {
  afterEach(() => {
    gpu().maxBindingBytes = gpu().device.limits.maxStorageBufferBindingSize;
  });
  for (const c of kernelIndex()) {
    it(c.case, async () => {
      const file = loadCase(c.file);
      const params = JSON.parse(file.metadata.params);
      const run = KERNEL_OPS[c.op];
      const reference = await run(gpu(), file.tensors, params);
      const activations = [...file.tensors].filter(([n]) => /^(input\d?|expected|model_output|sample|noise)$/.test(n));
      const largest = Math.max(...activations.map(([, t]) => t.data.length * 4));
      let banded = 0;
      for (const limit of LIMITS) {
        gpu().maxBindingBytes = limit;
        let out: Float32Array;
        try {
          out = await run(gpu(), file.tensors, params);
        } catch (e) {
          // A single row (or token) larger than the limit cannot be split further: that limit is too small.
          expect((e as Error).message).toMatch(/one row needs more than/);
          continue;
        }
        expect(out).toEqual(reference);
        if (limit < largest) banded++;
      }
      if (largest > LIMITS[0]) expect(banded).toBeGreaterThan(0);
    });
  }
});
