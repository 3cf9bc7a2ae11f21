// matmul on the GEMM core for aligned views (src/kernels/matmul.core_views.ts): the automatic choice
// takes it where it applies, against a float64 CPU loop (the same relative bound as matmul.test.ts),
// with strided views, offsets, alpha, bias and an out view; banded == unbanded exactly; refusals.

import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.js';
import { matmul, type MatrixView } from '../../src/kernels/matmul.js';
import { useGpu } from '../helpers.js';
import { TOL } from '../tolerances.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

interface CpuView { data: Float32Array; offset: number; rows: number; cols: number; ld: number }

function cpuMatmul(a: CpuView, b: CpuView, alpha: number, bias?: Float32Array): Float64Array {
  const [m, k, n] = [a.rows, a.cols, b.cols];
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a.data[a.offset + i * a.ld + t] * b.data[b.offset + t * b.ld + j];
      out[i * n + j] = alpha * s + (bias ? bias[j] : 0);
    }
  return out;
}

/** max |got - want| <= rel · max(1, max |want|). */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  let scale = 1;
  let err = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
  expect(err).toBeLessThanOrEqual(TOL.matmulRelative * scale);
}

function view(gpu: Gpu, total: number, offset: number, rows: number, cols: number, ld: number, seed: number): [MatrixView, CpuView] {
  const data = rand(total, seed);
  return [{ tensor: gpu.upload(data, [total]), offset, rows, cols, ld }, { data, offset, rows, cols, ld }];
}

const gpu = useGpu();

describe('matmul on the GEMM core (aligned views)', () => {
  it('the automatic choice runs it for aligned views (first: the pipeline is built here)', async () => {
    const g = gpu();
    const keys: string[] = [];
    g.onShader = (key) => keys.push(key);
    try {
      const [a, ac] = view(g, 40 * 64, 0, 40, 64, 64, 1);
      const [b, bc] = view(g, 64 * 32, 0, 64, 32, 32, 2);
      const c = matmul(g, a, b);
      expectClose(await c.read(), cpuMatmul(ac, bc, 1));
      [a.tensor, b.tensor, c].forEach((t) => t.release());
    } finally {
      g.onShader = undefined;
    }
    expect(keys).toContain('matmul.core_views');
  });

  // [M, N, K]: M not a multiple of the 32-row tile, one row, K up to 512.
  for (const [m, n, k] of [[1, 32, 32], [91, 64, 32], [3, 128, 64], [33, 96, 512], [70, 32, 1024]])
    it(`${m}x${n}x${k}`, async () => {
      const g = gpu();
      const [a, ac] = view(g, m * k, 0, m, k, k, 3);
      const [b, bc] = view(g, k * n, 0, k, n, n, 4);
      const c = matmul(g, a, b, { variant: 'core' });
      expectClose(await c.read(), cpuMatmul(ac, bc, 1));
      [a.tensor, b.tensor, c].forEach((t) => t.release());
    });

  it('strided views at offsets, alpha and bias, written into an out view (rows padded, padding untouched)', async () => {
    const g = gpu();
    const [m, n, k] = [45, 64, 96];
    const [a, ac] = view(g, 4 + m * 100, 4, m, k, 100, 5);
    const [b, bc] = view(g, 8 + k * 72, 8, k, n, 72, 6);
    const biasData = rand(n, 7);
    const bias = g.upload(biasData, [n]);
    const outT = g.upload(new Float32Array(12 + m * (n + 4)), [12 + m * (n + 4)]);
    const out: MatrixView = { tensor: outT, offset: 12, rows: m, cols: n, ld: n + 4 };
    expect(matmul(g, a, b, { alpha: 0.125, bias, out, variant: 'core' })).toBe(outT);
    const got = await outT.read();
    const picked = new Float32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) picked[i * n + j] = got[12 + i * (n + 4) + j];
    expectClose(picked, cpuMatmul(ac, bc, 0.125, biasData));
    expect(got[0]).toBe(0);
    expect(got[12 + n]).toBe(0); // the row padding
    [a.tensor, b.tensor, bias, outT].forEach((t) => t.release());
  });

  it('refuses views it cannot read as vec4, and transposed B', () => {
    const g = gpu();
    const t = g.empty([64 * 64 + 2]);
    const v = (offset: number, cols: number, ld: number): MatrixView => ({ tensor: t, offset, rows: 64, cols, ld });
    expect(() => matmul(g, v(2, 64, 64), v(0, 64, 64), { variant: 'core' })).toThrow(/core variant needs/); // A's offset
    expect(() => matmul(g, v(0, 64, 64), v(0, 36, 64), { variant: 'core' })).toThrow(/core variant needs/); // N % 32
    expect(() => matmul(g, v(0, 64, 64), { tensor: t, offset: 0, rows: 64, cols: 64, ld: 64 }, { transB: true, variant: 'core' })).toThrow(/core variant needs/);
    t.release();
  });
});

describe('matmul core banded by a 64 KiB binding limit', () => {
  it('300x96x128 equals the unbanded result', async () => {
    const g = gpu();
    const [m, n, k] = [300, 96, 128]; // A is 150 KiB and C 112 KiB: 3 bands or more
    const [a, ac] = view(g, m * k + 4, 4, m, k, k, 11);
    const [b, bc] = view(g, k * n, 0, k, n, n, 12);
    const whole = await matmul(g, a, b, { variant: 'core' }).read();
    g.maxBindingBytes = 64 * 1024;
    try {
      expect(await matmul(g, a, b, { variant: 'core' }).read()).toEqual(whole);
    } finally {
      g.maxBindingBytes = g.device.limits.maxStorageBufferBindingSize;
    }
    expectClose(whole, cpuMatmul(ac, bc, 1));
  });
});
