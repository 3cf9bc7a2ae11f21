// matmul against a plain CPU loop (f64 accumulation), for both kernel variants.
// Tolerance: |ours - ref| <= 1e-5 * max(1, max |ref|), for K <= 512 with inputs in [-1, 1): f32
// accumulation of K products of that size errs by well under 1e-5 relative to the output's scale.

import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.js';
import { matmul, type MatmulVariant, type MatrixView } from '../../src/kernels/matmul.js';
import { useGpu } from '../helpers.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

interface CpuView { data: Float32Array; offset: number; rows: number; cols: number; ld: number }

/** The reference: C[m, n] = alpha * sum_k A[m, k] * B(k, n) + bias[n], in f64. */
function cpuMatmul(a: CpuView, b: CpuView, transB: boolean, alpha: number, bias?: Float32Array): Float64Array {
  const [m, k] = [a.rows, a.cols];
  const n = transB ? b.rows : b.cols;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a.data[a.offset + i * a.ld + t] * (transB ? b.data[b.offset + j * b.ld + t] : b.data[b.offset + t * b.ld + j]);
      out[i * n + j] = alpha * s + (bias ? bias[j] : 0);
    }
  return out;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel = 1e-5): void {
  expect(got.length).toBe(want.length);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
  expect(err).toBeLessThanOrEqual(rel * scale);
}

/** A [rows, cols] view at `offset` of a random tensor [total] with row stride ld. */
function view(gpu: Gpu, total: number, offset: number, rows: number, cols: number, ld: number, seed: number): [MatrixView, CpuView] {
  const data = rand(total, seed);
  return [{ tensor: gpu.upload(data, [total]), offset, rows, cols, ld }, { data, offset, rows, cols, ld }];
}

const gpu = useGpu();
const VARIANTS: MatmulVariant[] = ['tiled', 'subgroup'];

for (const variant of VARIANTS) {
  describe(`matmul (${variant})`, () => {
    const cases: [number, number, number][] = [[1, 1, 1], [91, 64, 32], [3, 128, 64], [40, 37, 300], [33, 70, 512]];
    for (const [m, n, k] of cases)
      for (const transB of [false, true])
        it(`${m}x${n}x${k}${transB ? ' transB' : ''}`, async () => {
          const g = gpu();
          const [a, ac] = view(g, m * k, 0, m, k, k, 1);
          const [b, bc] = transB ? view(g, n * k, 0, n, k, k, 2) : view(g, k * n, 0, k, n, n, 2);
          const c = matmul(g, a, b, { transB, variant });
          expect(c.shape).toEqual([m, n]);
          expectClose(await c.read(), cpuMatmul(ac, bc, transB, 1));
          [a.tensor, b.tensor, c].forEach((t) => t.release());
        });

    it('alpha and bias', async () => {
      const g = gpu();
      const [a, ac] = view(g, 45 * 64, 0, 45, 64, 64, 3);
      const [b, bc] = view(g, 64 * 50, 0, 64, 50, 50, 4);
      const biasData = rand(50, 5);
      const bias = g.upload(biasData, [50]);
      const c = matmul(g, a, b, { alpha: 0.125, bias, variant });
      expectClose(await c.read(), cpuMatmul(ac, bc, false, 0.125, biasData));
      [a.tensor, b.tensor, bias, c].forEach((t) => t.release());
    });

    it('views into an interleaved qkv tensor, written into an out view', async () => {
      // qkv [tokens, 3C]: scores = q · k^T of one head (columns h*d .. h*d + d of q and k).
      const g = gpu();
      const [tokens, ch, d, h] = [77, 96, 32, 1];
      const qkvData = rand(tokens * 3 * ch, 6);
      const qkv = g.upload(qkvData, [tokens, 3 * ch]);
      const q: MatrixView = { tensor: qkv, offset: h * d, rows: tokens, cols: d, ld: 3 * ch };
      const k: MatrixView = { tensor: qkv, offset: ch + h * d, rows: tokens, cols: d, ld: 3 * ch };
      const outT = g.upload(new Float32Array(3 + tokens * (tokens + 5)), [3 + tokens * (tokens + 5)]);
      const out: MatrixView = { tensor: outT, offset: 3, rows: tokens, cols: tokens, ld: tokens + 5 };
      expect(matmul(g, q, k, { transB: true, alpha: 1 / Math.sqrt(d), out, variant })).toBe(outT);
      const want = cpuMatmul({ data: qkvData, ...q }, { data: qkvData, ...k }, true, 1 / Math.sqrt(d));
      const got = await outT.read();
      const picked = new Float32Array(tokens * tokens);
      for (let i = 0; i < tokens; i++) for (let j = 0; j < tokens; j++) picked[i * tokens + j] = got[3 + i * (tokens + 5) + j];
      expectClose(picked, want);
      // Padding between rows is untouched.
      expect(got[0]).toBe(0);
      expect(got[3 + tokens]).toBe(0);
      // probs · v with v read from the same interleaved tensor (B not transposed, offset 2C).
      const v: MatrixView = { tensor: qkv, offset: 2 * ch, rows: tokens, cols: ch, ld: 3 * ch };
      const [p, pc] = view(g, tokens * tokens, 0, tokens, tokens, tokens, 7);
      const o = matmul(g, p, v, { variant });
      expectClose(await o.read(), cpuMatmul(pc, { data: qkvData, ...v }, false, 1));
      [qkv, outT, p.tensor, o].forEach((t) => t.release());
    });

    it('aligned strided views (the vec4 pipeline of the subgroup variant) and an unaligned one', async () => {
      const g = gpu();
      // K % 32 == 0, N, ld and offsets % 4 == 0: A and B are read as vec4.
      for (const [aOff, bOff, n] of [[4, 8, 36], [4, 8, 100], [2, 8, 36]]) {
        const [a, ac] = view(g, aOff + 37 * 68, aOff, 37, 64, 68, 8);
        const [b, bc] = view(g, bOff + 64 * 104, bOff, 64, n, 104, 9);
        const c = matmul(g, a, b, { variant });
        expectClose(await c.read(), cpuMatmul(ac, bc, false, 1));
        [a.tensor, b.tensor, c].forEach((t) => t.release());
      }
    });

    it('rejects mismatched shapes', () => {
      const g = gpu();
      const a = g.empty([4, 5]);
      const b = g.empty([6, 7]);
      expect(() => matmul(g, { tensor: a, offset: 0, rows: 4, cols: 5, ld: 5 }, { tensor: b, offset: 0, rows: 6, cols: 7, ld: 7 }, { variant })).toThrow(/A is 4x5/);
      a.release();
      b.release();
    });
  });
}

// Under a forced 64 KiB binding limit A and C are processed in several bands of rows; the result must
// equal the unbanded one exactly (every element is computed by the same code from the same inputs).
describe('matmul banded by a 64 KiB binding limit', () => {
  const small = useGpu({ maxBindingBytes: 64 * 1024 });
  for (const variant of VARIANTS)
    for (const transB of [false, true])
      it(`${variant}${transB ? ' transB' : ''}: 300x96x128 equals the unbanded result`, async () => {
        const g = small();
        const [m, n, k] = [300, 96, 128]; // A is 150 KiB and C 112 KiB: 3 bands or more
        const [a, ac] = view(g, m * k + 5, 5, m, k, k, 11);
        const [b, bc] = transB ? view(g, n * k, 0, n, k, k, 12) : view(g, k * n, 0, k, n, n, 12);
        const banded = await matmul(g, a, b, { transB, variant }).read();
        const limit = g.maxBindingBytes;
        g.maxBindingBytes = g.device.limits.maxStorageBufferBindingSize;
        const whole = await matmul(g, a, b, { transB, variant }).read();
        g.maxBindingBytes = limit;
        expect(banded).toEqual(whole);
        expectClose(banded, cpuMatmul(ac, bc, transB, 1));
      });
});
