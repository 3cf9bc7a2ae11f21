// matmul under a forced 64 KiB binding limit: A and C are processed in several bands of rows, and the
// result must equal the unbanded one exactly (every element is computed by the same code).

import { describe, expect, it } from 'vitest';
import { matmul, type MatmulVariant } from '../../src/kernels/matmul.js';
import { useGpu } from '../helpers.js';
import { cpuMatmul, expectClose, rand } from './matmul.test.js';

const gpu = useGpu({ maxBindingBytes: 64 * 1024 });

describe('matmul banded by a 64 KiB binding limit', () => {
  for (const variant of ['tiled', 'subgroup'] as MatmulVariant[])
    for (const transB of [false, true])
      it(`${variant}${transB ? ' transB' : ''}: 300x96x128 equals the unbanded result`, async () => {
        const g = gpu();
        const [m, n, k] = [300, 96, 128]; // A is 150 KiB, C 112 KiB: 3+ bands
        const aData = rand(m * k + 5, 11);
        const bData = rand(n * k, 12);
        const a = { tensor: g.upload(aData, [m * k + 5]), offset: 5, rows: m, cols: k, ld: k };
        const b = { tensor: g.upload(bData, [n * k]), offset: 0, rows: transB ? n : k, cols: transB ? k : n, ld: transB ? k : n };
        const banded = await matmul(g, a, b, { transB, variant }).read();
        const limit = g.maxBindingBytes;
        g.maxBindingBytes = g.device.limits.maxStorageBufferBindingSize;
        const whole = await matmul(g, a, b, { transB, variant }).read();
        g.maxBindingBytes = limit;
        expect(banded).toEqual(whole);
        expectClose(banded, cpuMatmul({ data: aData, ...a }, { data: bData, ...b }, transB, 1));
      });
});
