import { describe, expect, it } from 'vitest';
import { Gpu } from '../../src/gpu/gpu.js';
import { planBands } from '../../src/gpu/bands.js';
import { sizeClass } from '../../src/gpu/pool.js';
import { nchwToNhwc, nhwcToNchw } from '../../src/gpu/tensor.js';
import { softmaxRows } from '../../src/kernels/softmax.js';
import { silu } from '../../src/kernels/elementwise.js';
import { lavapipeThreads } from '../../src/gpu/node.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();

describe('Gpu runtime', () => {
  it('reports the adapter, its limits and the features it requested', () => {
    const g = gpu();
    expect(g.adapterName.length).toBeGreaterThan(0);
    expect(g.maxBindingBytes).toBe(g.device.limits.maxStorageBufferBindingSize);
    expect(g.device.limits.maxBufferSize).toBeGreaterThan(g.device.limits.maxStorageBufferBindingSize);
    expect(g.features.subgroups).toBe(g.device.features.has('subgroups'));
  });

  it("gives lavapipe 4 compute threads per CPU (at most 32) unless LP_NUM_THREADS is set", () => {
    expect(lavapipeThreads(2)).toBe(8);
    expect(lavapipeThreads(16)).toBe(32);
    // Set before the driver loaded (by us, or kept as the user set it): a positive thread count.
    expect(Number(process.env.LP_NUM_THREADS)).toBeGreaterThan(0);
  });

  it('refuses a planning limit above the adapter limit', async () => {
    const huge = gpu().device.limits.maxStorageBufferBindingSize + 1;
    await expect(Gpu.create({ maxBindingBytes: huge })).rejects.toThrow(/maxBindingBytes .* is above/);
  });

  it('dispatches grids over 65,535 workgroups (folded into 2D)', async () => {
    const rows = 70001; // softmax runs one workgroup per row
    const s = gpu().upload(Float32Array.from({ length: rows * 2 }, (_, i) => (i % 2 ? Math.log(3) : 0)), [rows, 2]);
    softmaxRows(gpu(), s);
    const out = await s.read();
    s.release();
    expect(out[0]).toBeCloseTo(0.25, 6);
    expect(out[2 * rows - 1]).toBeCloseTo(0.75, 6); // the last row ran too
  });

  it('reports GPU errors with the op that caused them', async () => {
    const g = gpu();
    const p = g.pipeline('deliberately-broken-kernel', () => 'this is not wgsl'); // compiled at its first dispatch
    g.op('an op running it', (pass) => g.dispatch(pass, p, new Uint32Array(4), [], 1));
    await expect(g.sync()).rejects.toThrow(/GPU error in create pipeline deliberately-broken-kernel/);
  });

  it('reuses pooled buffers: repeated runs do not grow memory', async () => {
    const g = gpu();
    const x = g.upload(new Float32Array(4096).fill(1), [1, 8, 8, 64]);
    const once = async () => {
      const y = silu(g, x);
      await y.read();
      y.release();
    };
    await once();
    const after1 = g.pool.getStats().allocatedBytes;
    for (let i = 0; i < 5; i++) await once();
    expect(g.pool.getStats().allocatedBytes).toBe(after1);
    x.release();
  });

  it('a lost device gives a clear error instead of silent garbage', async () => {
    const g = await Gpu.create();
    const x = g.upload(new Float32Array(4), [4]);
    g.device.destroy();
    await g.device.lost;
    expect(() => silu(g, x)).toThrow(/GPU device lost .*create a new Gpu/);
  });

  it('the pool reuses idle buffers up to twice the size and never destroys them mid-run', () => {
    const pool = gpu().pool;
    pool.trim();
    const base = pool.getStats().allocatedBytes;
    const MiB = 1 << 20;
    const a = pool.acquire(4 * MiB, 'a');
    pool.release(a);
    const b = pool.acquire(2.5 * MiB, 'b'); // reuses the idle 4 MiB buffer (at most 2x larger)
    expect(b).toBe(a);
    pool.release(b);
    const small = pool.acquire(MiB, 's'); // 4x smaller: a new buffer; the idle 4 MiB one stays for reuse
    expect(small).not.toBe(a);
    expect(pool.getStats().allocatedBytes - base).toBe(5 * MiB);
    pool.release(small);
    const again = pool.acquire(4 * MiB, 'again');
    expect(again).toBe(a);
    pool.release(again);
    pool.trim(); // between runs: idle buffers go
    expect(pool.getStats().allocatedBytes).toBe(base);
  });

  it('refuses to use a released tensor', () => {
    const t = gpu().upload(new Float32Array(4), [4]);
    t.release();
    expect(() => gpu().bind(t)).toThrow(/used after release/);
  });
});

describe('helpers', () => {
  it('size classes round up by at most 1/8', () => {
    for (const b of [1, 255, 257, 1000, 4096, 5000, 1 << 20, (1 << 20) + 1, 123456789]) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      expect(c).toBeLessThanOrEqual(Math.max(256, b * 1.125 + 256));
    }
  });

  it('NCHW <-> NHWC round trip', () => {
    const x = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i);
    const nhwc = nchwToNhwc(x, [2, 3, 4, 5]);
    expect(nhwc[1]).toBe(20); // (n0, h0, w0, c1) = x[c1 * 20]
    expect(nhwcToNchw(nhwc, [2, 4, 5, 3])).toEqual(x);
  });

  it('plans bands that cover every row once and respect the limit', () => {
    const fake = { storageAlign: 16, maxBindingBytes: 1000 } as Gpu;
    const bands = planBands(fake, 100, (r0, r1) => [[r0 * 10, r1 * 10]], 'test');
    expect(bands[0].r0).toBe(0);
    expect(bands[bands.length - 1].r1).toBe(100);
    for (let i = 1; i < bands.length; i++) expect(bands[i].r0).toBe(bands[i - 1].r1);
    for (const b of bands) expect((b.r1 - b.r0) * 40).toBeLessThanOrEqual(1000);
    expect(() => planBands(fake, 10, (r0, r1) => [[r0 * 400, r1 * 400]], 'wide rows')).toThrow(/wide rows: one row needs more than/);
  });
});
