// Waiting for the GPU without Dawn's busy loop (src/gpu/poll.ts): while the library awaits the device,
// setImmediate is deferred by a timer and behaves as setImmediate otherwise (arguments, clearImmediate,
// util.promisify); the originals are back after every wait, nested or failed; Gpu.sync and reads use it
// unless pollIntervalMs is 0.
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Gpu } from '../../src/gpu/gpu.js';
import { politeWaitActive, waitPolitely } from '../../src/gpu/poll.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();
const original = { setImmediate: globalThis.setImmediate, clearImmediate: globalThis.clearImmediate };
const restored = () => globalThis.setImmediate === original.setImmediate && globalThis.clearImmediate === original.clearImmediate;

describe('waitPolitely', () => {
  it('defers setImmediate during the wait and restores it after, also when the wait fails', async () => {
    let during: unknown;
    const got = await waitPolitely(1, async () => {
      during = globalThis.setImmediate;
      return 42;
    });
    expect(got).toBe(42);
    expect(during).not.toBe(original.setImmediate);
    expect(restored()).toBe(true);
    await expect(waitPolitely(1, async () => Promise.reject(new Error('device lost')))).rejects.toThrow('device lost');
    expect(restored()).toBe(true);
    expect(politeWaitActive()).toBe(false);
  });

  it('restores only when the outermost of overlapping waits ends', async () => {
    let release!: () => void;
    const outer = waitPolitely(1, () => new Promise<void>((r) => (release = r)));
    await waitPolitely(1, async () => {});
    expect(politeWaitActive()).toBe(true); // the outer wait is still pending
    release();
    await outer;
    expect(restored()).toBe(true);
  });

  it('a deferred setImmediate passes its arguments, clearImmediate cancels it, and promisify still works', async () => {
    const calls: unknown[][] = [];
    let early: ReturnType<typeof setImmediate> | undefined;
    await waitPolitely(1, async () => {
      await new Promise<void>((done) => setImmediate((a: unknown, b: unknown) => (calls.push([a, b]), done()), 'x', 7));
      const cancelled = setImmediate(() => calls.push(['cancelled']));
      clearImmediate(cancelled);
      // An Immediate made before the swap is cleared by the original clearImmediate.
      early = original.setImmediate(() => calls.push(['early']));
      clearImmediate(early);
      expect(await promisify(setImmediate)('value')).toBe('value');
      await new Promise((r) => setTimeout(r, 10));
    });
    expect(calls).toEqual([['x', 7]]);
  });

  it('keeps a setImmediate that other code put in during the wait', async () => {
    const theirs = ((fn: () => void) => original.setImmediate(fn)) as unknown as typeof setImmediate;
    try {
      await waitPolitely(1, async () => {
        globalThis.setImmediate = theirs;
      });
      expect(globalThis.setImmediate).toBe(theirs);
      expect(globalThis.clearImmediate).toBe(original.clearImmediate);
    } finally {
      globalThis.setImmediate = original.setImmediate;
    }
  });

  it('leaves setImmediate alone with intervalMs 0', async () => {
    let during: unknown;
    await waitPolitely(0, async () => {
      during = globalThis.setImmediate;
    });
    expect(during).toBe(original.setImmediate);
  });
});

describe('Gpu waits', () => {
  it('sync and reads wait politely by default, and not with pollIntervalMs 0', async () => {
    const t = gpu().upload(Float32Array.from([1, 2, 3, 4]), [4]);
    const syncing = gpu().sync();
    expect(politeWaitActive()).toBe(true); // installed before sync's first await
    await syncing;
    expect(restored()).toBe(true);
    const reading = t.read();
    await Promise.resolve();
    expect(politeWaitActive()).toBe(true);
    expect(Array.from(await reading)).toEqual([1, 2, 3, 4]);
    expect(restored()).toBe(true);
    t.release();

    const busy = await Gpu.create({ pollIntervalMs: 0 });
    try {
      const u = busy.upload(Float32Array.from([5, 6]), [2]);
      const p = u.read();
      expect(politeWaitActive()).toBe(false);
      expect(Array.from(await p)).toEqual([5, 6]);
    } finally {
      busy.destroy();
    }
  });
});
