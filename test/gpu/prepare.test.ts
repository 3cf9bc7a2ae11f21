// Gpu.prepare (via AutoencoderKL / ConsistencyDecoder.prepareDecode and the loaders' beforeRead): a decode planned and its
// pipelines compiled before the weights are read, and what that leaves for the first real decode:
// its one-time allocations (arena, cached U) and its ops, no pipeline.

import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Gpu } from '../../src/gpu/gpu.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { ParamLoader, f32Entry, type LoadOptions } from '../../src/models/params.js';
import { loadModel } from '../../src/pipeline.js';
import { FIXTURES } from '../helpers.js';

const TINY_VAE = join(FIXTURES, 'models/tiny-vae');
const LATENT = [1, 4, 4, 4]; // NHWC: the tiny VAE has 4 latent channels

/** Counts the device calls that matter here, on a fresh Gpu (pipelines are cached per Gpu). */
async function countedGpu(opts: Parameters<typeof Gpu.create>[0] = {}) {
  const gpu = await Gpu.create(opts);
  const calls = { sync: 0, async: [] as string[], arenaBuffers: 0 };
  const dev = gpu.device as unknown as Record<string, (d: { label?: string }) => unknown>;
  const [sync, async, buffer] = [dev.createComputePipeline, dev.createComputePipelineAsync, dev.createBuffer].map((f) => f.bind(gpu.device));
  dev.createComputePipeline = (d) => (calls.sync++, sync(d));
  dev.createComputePipelineAsync = (d) => (calls.async.push(d.label ?? ''), async(d));
  dev.createBuffer = (d) => (d.label?.startsWith('activation arena') && calls.arenaBuffers++, buffer(d));
  return { gpu, calls };
}

/**
 * Loads a model with `prepare` as its beforeRead; returns it and how many weight bytes had been read when
 * prepare was called (0: the reads were deferred until after the plan).
 */
async function loadPrepared<M>(load: (opts: LoadOptions, beforeRead: (m: M) => Promise<void>) => Promise<M>, prepare: (m: M) => Promise<void>) {
  let readBeforePrepare = -1;
  let loadedBytes = 0;
  const model = await load({ onProgress: (b) => (loadedBytes = b) }, (m) => ((readBeforePrepare = loadedBytes), prepare(m)));
  return { model, readBeforePrepare, loadedBytes };
}

const latent = (gpu: Gpu) => gpu.upload(Float32Array.from({ length: 4 * 4 * 4 }, (_, i) => Math.sin(i * 0.7)), LATENT);

const gpus: Gpu[] = [];
afterEach(() => {
  gpus.splice(0).forEach((g) => g.destroy());
});

describe('Gpu.prepare: a decode planned while the weights load', () => {
  it('plans before any weight is read, compiles each variant once, and leaves the first decode no pipeline to compile', async () => {
    const { gpu, calls } = await countedGpu();
    gpus.push(gpu);
    const { model: vae, readBeforePrepare, loadedBytes } = await loadPrepared<AutoencoderKL>((o, b) => AutoencoderKL.load(gpu, TINY_VAE, o, b), (m) => m.prepareDecode(LATENT));
    expect(readBeforePrepare).toBe(0); // the reads were deferred until after the plan
    expect(loadedBytes).toBeGreaterThan(0);
    expect(calls.async.length).toBeGreaterThan(0);
    expect(new Set(calls.async).size).toBe(calls.async.length); // one compile per variant, however many dispatches use it
    expect(calls.arenaBuffers).toBe(0); // made by the first real run

    const [syncBefore, asyncBefore] = [calls.sync, calls.async.length];
    const z = latent(gpu);
    const y = vae.decode(z);
    const prepared = await y.read();
    y.release();
    expect(calls.sync - syncBefore).toBe(0);
    expect(calls.async.length - asyncBefore).toBe(0);
    const arenaOfPrepared = calls.arenaBuffers;
    expect(arenaOfPrepared).toBeGreaterThan(0);

    // The same decode from a model loaded without prepare (same Gpu, its own plan) gives the same bits.
    const plainVae = await AutoencoderKL.load(gpu, TINY_VAE);
    const y2 = plainVae.decode(z);
    expect(await y2.read()).toEqual(prepared);
    y2.release();
    // and a second decode of the prepared model keeps to its plan: no new arena, no pipeline
    const syncNow = calls.sync;
    const arenaNow = calls.arenaBuffers;
    const y3 = vae.decode(z);
    expect(await y3.read()).toEqual(prepared);
    y3.release();
    expect([calls.sync, calls.arenaBuffers]).toEqual([syncNow, arenaNow]);
    z.release();
    vae.release();
    plainVae.release();
  });

  it('loadModel plans with the activation dtype it sets (the first decode keeps to the prepared plan)', async () => {
    const { gpu, calls } = await countedGpu();
    gpus.push(gpu);
    const activations = gpu.features.f16 ? 'f16' : 'f32';
    const m = await loadModel(gpu, TINY_VAE, 'vae', { activations, forceF16: true, prepareDecode: LATENT }); // the tiny VAE says force_upcast
    const syncAfterLoad = calls.sync;
    expect(calls.async.length).toBeGreaterThan(0);
    const z = latent(gpu);
    const y = (m.model as AutoencoderKL).decode(z);
    await y.read();
    y.release();
    z.release();
    expect(calls.sync).toBe(syncAfterLoad); // a plan for another key (f32 activations) would compile its own variants
    m.model.release();
  });

  it('makes nothing when the run would exceed the memory budget (the real run refuses it)', async () => {
    const { gpu, calls } = await countedGpu({ memoryBudget: 1024 });
    gpus.push(gpu);
    const vae = await AutoencoderKL.load(gpu, TINY_VAE, {}, (m) => m.prepareDecode(LATENT));
    expect(calls.async).toEqual([]);
    vae.release();
  });

  it('names the expected shape when prepareDecode gets another one, and the load releases the model', async () => {
    const { gpu } = await countedGpu();
    gpus.push(gpu);
    const held = gpu.pool.getStats().allocatedBytes;
    await expect(AutoencoderKL.load(gpu, TINY_VAE, {}, (m) => m.prepareDecode([1, 4, 4, 3]))).rejects.toThrow(/prepareDecode: latent \[1,4,4,3\] \(NHWC\) must have 4 channels/);
    gpu.pool.trim();
    expect(gpu.pool.getStats().allocatedBytes).toBe(held);
  });
});

describe('Gpu.prepare: a consistency decode planned while the weights load', () => {
  const TINY_CD = join(FIXTURES, 'models/tiny-consistency');
  const OPTS = { steps: 2, seed: 0 };

  it('the first decode with the prepared options compiles nothing and equals an unprepared model bit for bit', async () => {
    const { gpu, calls } = await countedGpu();
    gpus.push(gpu);
    const { model: cd, readBeforePrepare, loadedBytes } = await loadPrepared<ConsistencyDecoder>((o, b) => ConsistencyDecoder.load(gpu, TINY_CD, o, b), (m) => m.prepareDecode(LATENT, OPTS));
    expect(readBeforePrepare).toBe(0);
    expect(loadedBytes).toBeGreaterThan(0);
    expect(calls.async.length).toBeGreaterThan(0);
    expect(calls.arenaBuffers).toBe(0);
    const syncBefore = calls.sync;
    const steps: number[] = [];
    const z = latent(gpu);
    const y = cd.decode(z, { ...OPTS, onStep: (i) => steps.push(i) });
    const prepared = await y.read();
    y.release();
    expect(calls.sync - syncBefore).toBe(0); // every pipeline was compiled during the load
    expect(steps).toEqual([0, 1]); // progress is reported by the real decode only, not by the plan
    const plain = await ConsistencyDecoder.load(gpu, TINY_CD);
    const y2 = plain.decode(z, OPTS);
    expect(await y2.read()).toEqual(prepared);
    y2.release();
    z.release();
    cd.release();
    plain.release();
  });

  it('loadModel prepares the consistency decoder with the options it is given; other options plan afresh', async () => {
    const { gpu } = await countedGpu();
    gpus.push(gpu);
    const oneStep = { steps: 1, seed: 0 };
    const m = await loadModel(gpu, TINY_CD, 'consistency', { prepareDecode: LATENT, prepareDecodeOptions: oneStep });
    const cd = m.model as ConsistencyDecoder;
    // Count the sampler's runs: a decode whose plan was prepared runs it once; an unplanned one also for its plan.
    const spied = cd as unknown as { decodeNow: (...a: unknown[]) => unknown };
    const decodeNow = spied.decodeNow.bind(cd);
    let runs = 0;
    spied.decodeNow = (...a) => (runs++, decodeNow(...a));
    const z = latent(gpu);
    cd.decode(z, oneStep).release();
    expect(runs).toBe(1); // the prepared plan: no stand-in run
    runs = 0;
    cd.decode(z, OPTS).release(); // two steps: another plan, made now
    expect(runs).toBeGreaterThan(1);
    await gpu.sync();
    z.release();
    cd.release();
  });

  it('names the expected shape when prepareDecode gets another one', async () => {
    const { gpu } = await countedGpu();
    gpus.push(gpu);
    await expect(ConsistencyDecoder.load(gpu, TINY_CD, {}, (m) => m.prepareDecode([1, 4, 4, 3]))).rejects.toThrow(/prepareDecode: latent \[1,4,4,3\] \(NHWC\) must have 4 channels/);
  });
});

describe('loadModel prepareDecode with a shape the model cannot decode', () => {
  it('loads without planning (a speed-up never fails a load); the decode then names the problem', async () => {
    const { gpu, calls } = await countedGpu();
    gpus.push(gpu);
    const m = await loadModel(gpu, join(FIXTURES, 'models/tiny-consistency'), 'consistency', { prepareDecode: [1, 4, 4, 3] });
    expect(calls.async).toEqual([]); // nothing was planned or compiled
    const z = gpu.upload(new Float32Array(4 * 4 * 3), [1, 4, 4, 3]);
    expect(() => (m.model as ConsistencyDecoder).decode(z)).toThrow(/decode: latent \[1,4,4,3\] \(NHWC\) must have 4 channels/);
    z.release();
    m.model.release();
  });
});

describe('ParamLoader deferReads', () => {
  it('reads a synchronous source after the build, in order, and loaded() waits for it', async () => {
    const values = new Map([
      ['a', Float32Array.of(1, 2)],
      ['b', Float32Array.of(3)],
    ]);
    const source = (n: string) => {
      const v = values.get(n);
      return v && f32Entry([v.length], () => v);
    };
    const p = ParamLoader.from(source, values.keys(), 'test', { deferReads: true });
    const got: number[][] = [];
    p.readF32('a', [2], (v) => got.push([...v]));
    p.readF32('b', [1], (v) => got.push([...v]));
    expect(got).toEqual([]); // nothing read during the "build"
    await p.loaded();
    expect(got).toEqual([[1, 2], [3]]);
    p.finish();
  });
});
