// The activation arena (gpu/arena.ts, Gpu.planned): packing never overlaps two allocations that are
// alive together, holds the live peak on real model traces, and a real run at the planned offsets
// gives the same bits as the plain pool, reuses its bins run after run, survives an output held across
// the next run, and falls back safely when it leaves its plan.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARENA_ALIGN, ArenaReplay, ArenaTrace, arenaBytes, packArena } from '../../src/gpu/arena.js';
import { Gpu, readOnlyBindings } from '../../src/gpu/gpu.js';
import { add } from '../../src/kernels/elementwise.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { FIXTURES, useGpu } from '../helpers.js';

const VAE = join(FIXTURES, 'models/tiny-vae');
const CD = join(FIXTURES, 'models/tiny-consistency');

/** A random acquire/release sequence (seeded): up to `live` allocations alive at once. */
function randomTrace(seed: number, n: number, live: number): ArenaTrace {
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const t = new ArenaTrace();
  const alive: number[] = [];
  for (let i = 0; i < n; i++) {
    if (alive.length >= live || (alive.length && rand() < 0.45)) t.release(alive.splice(Math.floor(rand() * alive.length), 1)[0]);
    alive.push(t.acquire(1 + Math.floor(rand() ** 3 * 5e6), `t${i}`));
  }
  return t;
}

/** Asserts that no two allocations alive at the same time overlap in one bin, and every placement is aligned and inside its bin. */
function expectNoOverlap(t: ArenaTrace, l: ReturnType<typeof packArena>): void {
  const n = t.sizes.length;
  for (let a = 0; a < n; a++) {
    if (t.ends[a] === Infinity) {
      expect(l.bin[a]).toBe(-1); // outputs are not placed
      continue;
    }
    expect(l.offset[a] % ARENA_ALIGN).toBe(0);
    expect(l.offset[a] + t.sizes[a]).toBeLessThanOrEqual(l.bins[l.bin[a]]);
    for (let b = a + 1; b < n; b++) {
      if (l.bin[b] < 0 || l.bin[a] !== l.bin[b] || !(t.starts[a] < t.ends[b] && t.starts[b] < t.ends[a])) continue;
      const apart = l.offset[a] + t.sizes[a] <= l.offset[b] || l.offset[b] + t.sizes[b] <= l.offset[a];
      if (!apart) throw new Error(`allocations ${a} and ${b} are alive together and overlap`);
    }
  }
}

describe('packArena', () => {
  it('never overlaps allocations alive together, in any bin, and holds at least the live peak', () => {
    const ratios: number[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const t = randomTrace(seed, 400, 12);
      const l = packArena(t, 64 * 2 ** 20);
      expectNoOverlap(t, l);
      expect(arenaBytes(l)).toBeGreaterThanOrEqual(t.livePeak());
      ratios.push(arenaBytes(l) / t.livePeak());
      expect(arenaBytes(l)).toBeLessThan(1.5 * t.livePeak());
    }
    console.log(`arena / live peak on random traces: ${ratios.map((r) => r.toFixed(3)).join(' ')}`);
  });

  it('a chain of equal tensors (each op reads the last, writes the next) packs into two slots, its live peak', () => {
    const t = new ArenaTrace();
    let prev = t.acquire(4 << 20);
    for (let i = 0; i < 20; i++) {
      const next = t.acquire(4 << 20);
      t.release(prev);
      prev = next;
    }
    t.release(prev);
    const l = packArena(t, 1 << 30);
    expectNoOverlap(t, l);
    expect(arenaBytes(l)).toBe(8 << 20);
    expect(t.livePeak()).toBe(8 << 20);
  });

  it('leaves outputs (never released in the run) unplaced: they come from the pool', () => {
    const t = new ArenaTrace();
    const a = t.acquire(1 << 20);
    const out = t.acquire(1 << 20);
    t.release(a);
    const l = packArena(t, 1 << 30);
    expect(l.bin[out]).toBe(-1);
    expect(arenaBytes(l)).toBe(1 << 20);
  });

  it('opens more bins under a small cap, each within it, and refuses an allocation above the cap', () => {
    const t = randomTrace(7, 200, 10);
    const cap = 8 * 2 ** 20;
    const l = packArena(t, cap);
    expectNoOverlap(t, l);
    expect(l.bins.length).toBeGreaterThan(1);
    for (const b of l.bins) expect(b).toBeLessThanOrEqual(cap);
    const big = new ArenaTrace();
    big.release(big.acquire(cap + 1));
    expect(() => packArena(big, cap)).toThrow(/allocation of \d+ bytes is above the 8388608-byte bin limit/);
  });
});

describe('ArenaReplay', () => {
  const trace = () => {
    const t = new ArenaTrace();
    const a = t.acquire(1000);
    const b = t.acquire(3000);
    t.release(a);
    t.acquire(500);
    t.release(b);
    return t;
  };

  it('hands out the placements in the order of the trace', () => {
    const l = packArena(trace(), 1 << 20);
    const r = new ArenaReplay(l);
    const a = r.next(1000)!;
    const b = r.next(2900)!; // rounded to the same 256-byte multiple: the same request
    r.release(a.id);
    const c = r.next(500)!;
    r.release(b.id);
    expect([a.id, b.id, c.id]).toEqual([0, 1, 2]);
    expect(r.diverged).toBe(false);
  });

  it('stops at the first request or release the trace does not expect', () => {
    const l = packArena(trace(), 1 << 20);
    const other = new ArenaReplay(l);
    other.next(1000);
    expect(other.next(5000)).toBeUndefined();
    expect(other.diverged).toBe(true);
    const order = new ArenaReplay(l);
    order.next(1000);
    const b = order.next(3000)!;
    order.release(b.id); // the trace releases a first
    expect(order.diverged).toBe(true);
    expect(order.next(500)).toBeUndefined();
  });
});

describe('read-only bindings', () => {
  it('lists the bindings a kernel declares var<storage, read>', () => {
    const code = '@group(0) @binding(1) var<storage, read> x: array<f32>;\n@group(0) @binding(2) var<storage, read_write> y: array<f32>;\n@group(0) @binding(3)  var<storage,read> w: array<u32>;';
    expect([...readOnlyBindings(code)]).toEqual([1, 3]);
  });
});

describe('model runs in the arena (lavapipe)', () => {
  const gpu = useGpu();
  const latent = (h: number, w: number, k = 0) => Float32Array.from({ length: 4 * h * w }, (_, i) => Math.sin(i + k) * 0.5);

  it('a VAE decode and encode give the same bits as the plain pool, and hold less', async () => {
    const plain = await Gpu.create({ arena: false });
    try {
      const out: Float32Array[] = [];
      const held: number[] = [];
      for (const g of [gpu(), plain]) {
        const vae = await AutoencoderKL.load(g, VAE);
        g.pool.trim();
        g.pool.resetPeak();
        const weights = g.pool.getStats().allocatedBytes;
        const z = g.upload(latent(16, 16), [1, 16, 16, 4]);
        const y = vae.decode(z);
        out.push(await y.read());
        const d = vae.encode(y);
        out.push(await d.mean.read());
        held.push(g.pool.getStats().peakAllocatedBytes - weights);
        [y, z].forEach((t) => t.release());
        d.release();
        vae.release();
      }
      expect(out[0]).toEqual(out[2]);
      expect(out[1]).toEqual(out[3]);
      expect(gpu().pool.getStats().arenaFallbacks).toBe(0);
      expect(held[0]).toBeLessThan(held[1]);
    } finally {
      plain.destroy();
    }
  });

  it('repeated decodes reuse the planned layout and its bins: memory does not grow', async () => {
    const g = gpu();
    const cd = await ConsistencyDecoder.load(g, CD);
    const z = g.upload(latent(6, 4), [1, 6, 4, 4]);
    const first = cd.decode(z, { seed: 1 });
    const bits = await first.read();
    first.release();
    const after1 = g.pool.getStats();
    expect(after1.arenaBytes).toBeGreaterThan(0);
    // The first decode caches U in its first UNet evaluation and reuses it in the second: its plan
    // must foresee that (no transform, no staging buffer the second time), or the run leaves it.
    expect(after1.arenaFallbacks).toBe(0);
    for (let i = 0; i < 3; i++) {
      const y = cd.decode(z, { seed: 1 });
      expect(await y.read()).toEqual(bits);
      y.release();
    }
    const after = g.pool.getStats();
    expect(after.allocatedBytes).toBe(after1.allocatedBytes);
    expect(after.buffers).toBe(after1.buffers);
    expect(after.arenaFallbacks).toBe(after1.arenaFallbacks);
    z.release();
    cd.release();
  });

  it('an output still held when the next run starts keeps its bits: outputs come from the pool, the next run reuses the bins', async () => {
    const g = gpu();
    const vae = await AutoencoderKL.load(g, VAE);
    const z1 = g.upload(latent(8, 8, 1), [1, 8, 8, 4]);
    const z2 = g.upload(latent(8, 8, 2), [1, 8, 8, 4]);
    const alone = vae.decode(z1);
    const y1Bits = await alone.read();
    alone.release();
    const arena = g.pool.getStats().arenaBytes;
    const y1 = vae.decode(z1);
    expect(y1.buffer.label).not.toMatch(/activation arena/);
    const y2 = vae.decode(z2); // y1 is still held: this run's activations must not touch it
    const y2Bits = await y2.read();
    expect(await y1.read()).toEqual(y1Bits);
    expect(y2Bits).not.toEqual(y1Bits);
    expect(g.pool.getStats().arenaBytes).toBe(arena);
    [y1, y2, z1, z2].forEach((t) => t.release());
    vae.release();
  });

  it('a run that leaves its plan falls back to the pool for the rest, stays correct and is planned afresh', async () => {
    const g = gpu();
    const x = g.upload(Float32Array.from({ length: 4096 }, (_, i) => i), [4096]);
    const owner = {};
    let extra = false;
    // The key does not say whether the run makes one more op: the second run leaves its plan.
    const run = () => {
      const a = add(g, x, x, 1, 'a');
      if (!extra) return a;
      const b = add(g, a, x, 1, 'b');
      a.release();
      return b;
    };
    const y0 = g.planned(owner, 'k', run, (t) => t.release());
    y0.release();
    const before = g.pool.getStats().arenaFallbacks;
    extra = true;
    const y1 = g.planned(owner, 'k', run, (t) => t.release());
    expect(g.pool.getStats().arenaFallbacks).toBe(before + 1);
    expect(Array.from(await y1.read()).slice(0, 4)).toEqual([0, 3, 6, 9]); // x + x + x
    y1.release();
    const y2 = g.planned(owner, 'k', run, (t) => t.release()); // planned afresh: it keeps to its plan
    expect(g.pool.getStats().arenaFallbacks).toBe(before + 1);
    expect(Array.from(await y2.read()).slice(0, 4)).toEqual([0, 3, 6, 9]);
    y2.release();
    x.release();
  });
});
