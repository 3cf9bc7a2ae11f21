// What a planned run's first real run does before its first op (src/gpu/ahead.ts): the pipelines its
// dispatches need, the shared textures at their final size, the cached Winograd U, and their views,
// so that nothing mid-run waits for the queue (on lavapipe, createView and createComputePipeline do);
// and only when doing that work early cannot raise the run's planned peak.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlanAhead } from '../../src/gpu/ahead.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { cachedUBytes } from '../../src/kernels/winograd.weights.js';
import { FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();

describe('PlanAhead.fits', () => {
  it('accepts moving allocations that stay to the end (a rising profile)', () => {
    const a = new PlanAhead();
    a.noteEvent(100, 10, () => {});
    a.noteEvent(110, 20, () => {});
    a.close(130);
    expect(a.fits()).toBe(true);
  });

  it('refuses when an early segment plus what moves before it would exceed the peak', () => {
    const a = new PlanAhead();
    a.noteEvent(200, 10, () => {}); // a segment at 200 (transient scratch), then +10 held to the end
    a.close(150); // peak 200: moving the 10 makes the first segment 210
    expect(a.fits()).toBe(false);
    const b = new PlanAhead();
    b.noteEvent(190, 10, () => {});
    b.close(200); // peak 200 at the end: 190 + 10 is not above it
    expect(b.fits()).toBe(true);
  });

  it('runs every act in order, and none noted after the run ended', () => {
    const a = new PlanAhead();
    const log: string[] = [];
    a.noteEvent(0, 1, () => void log.push('make 1'));
    a.noteEvent(1, 1, () => void log.push('make 2'));
    a.close(2);
    a.noteEvent(2, 1, () => void log.push('after the run: ignored'));
    expect(a.eventCount).toBe(2);
    a.runActs();
    expect(log).toEqual(['make 1', 'make 2']);
  });
});

describe('the first decode does its one-time work before its first op', () => {
  it('creates no pipeline or view after the run has begun, holds its U, and decodes as the second run', async () => {
    const g = gpu();
    const vae = await AutoencoderKL.load(g, join(FIXTURES, 'models/tiny-vae'));
    await g.sync();
    const events: string[] = [];
    const dev = g.device as unknown as Record<string, (...a: unknown[]) => unknown>;
    const wrap = (o: Record<string, (...a: unknown[]) => unknown>, name: string, tag: (a: unknown[]) => string) => {
      const f = o[name];
      o[name] = function (this: unknown, ...a: unknown[]) {
        events.push(tag(a));
        return f.apply(this, a);
      };
      return () => (o[name] = f);
    };
    const probe = g.device.createTexture({ size: [1, 1, 1], format: 'rgba32float', usage: GPUTextureUsage.TEXTURE_BINDING });
    const textureProto = Object.getPrototypeOf(probe) as Record<string, (...a: unknown[]) => unknown>;
    const encoder = g.device.createCommandEncoder();
    const encoderProto = Object.getPrototypeOf(encoder) as Record<string, (...a: unknown[]) => unknown>;
    const restore = [
      wrap(dev, 'createComputePipeline', () => 'pipeline'),
      wrap(textureProto, 'createView', () => 'view'),
      wrap(encoderProto, 'beginComputePass', (a) => `pass ${(a[0] as { label?: string })?.label ?? ''}`),
    ];
    const z = g.upload(Float32Array.from({ length: 4 * 4 * 4 }, (_, i) => Math.sin(i * 0.7)), [1, 4, 4, 4]);
    try {
      const y1 = vae.decode(z);
      const first = await y1.read();
      y1.release();
      // The run's first op is its first pass that is not a weight transform (those are done ahead).
      const start = events.findIndex((e) => e.startsWith('pass ') && !e.includes('weight transform'));
      expect(start).toBeGreaterThan(0);
      expect(events.slice(0, start)).toContain('pipeline'); // compiled ahead
      expect(events.slice(0, start)).toContain('view'); // cached U and shared textures viewed ahead
      expect(events.slice(start).filter((e) => !e.startsWith('pass '))).toEqual([]);
      expect(cachedUBytes(g)).toBeGreaterThan(0); // this decode caches U (<= 32x32 layers): made ahead
      events.length = 0;
      const y2 = vae.decode(z);
      expect(await y2.read()).toEqual(first);
      y2.release();
      expect(events.filter((e) => !e.startsWith('pass '))).toEqual([]);
    } finally {
      restore.forEach((r) => r());
      probe.destroy();
      z.release();
      vae.release();
    }
  });
});
