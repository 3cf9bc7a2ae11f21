// The conv autotuner (src/gpu/tune.ts, tune_measure.ts, src/io/tune_file.ts): it measures every applicable
// variant once and caches the winner under the adapter's info and the library version; a corrupt cache
// is reported and ignored; 'cached' uses a shipped table without timing anything; 'off' never consults
// the tuner; a tuned choice computes the same conv as the rule (a reference case at its tolerance);
// the file and localStorage stores round-trip.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { convWeight, f32, readNchw, uploadNchw } from '../../src/check/ops.js';
import { maxAbsDiff } from '../../src/check/compare.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { chooseConvVariant, conv2d, Conv2dWeight, convPolicy, winogradVariant, type ConvVariant } from '../../src/kernels/conv2d.js';
import {
  adapterKey, applicableConvVariants, convShapeKey, LIBRARY_VERSION, localStorageStore, lookupConv, memoryStore, missingConvShapes, parseTuneFile,
  readTuneFile, rememberConv, resetTuning, seenConvShapes, tunedConvVariant, tuning, type ConvShape, type ShippedTable, type TuneStore,
} from '../../src/gpu/tune.js';
import { measureConv, measuredSize, tuneConvShapes, type ConvTimer } from '../../src/gpu/tune_measure.js';
import { defaultTuneFilePath, fileTuneStore } from '../../src/io/tune_file.js';
import { lavapipeTable } from '../../src/gpu/tune_lavapipe.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';

const gpu = useGpu();
const saved = { tune: convPolicy.tune, store: tuning.store, shipped: tuning.shipped, warn: tuning.warn };
afterEach(() => {
  Object.assign(convPolicy, { tune: saved.tune });
  Object.assign(tuning, { store: saved.store, shipped: saved.shipped, warn: saved.warn });
  resetTuning(gpu());
});

const S3: ConvShape = { cin: 8, cout: 16, kh: 3, kw: 3, stride: 1, pad: [1, 1, 1, 1], pixels: 60 };
const S1: ConvShape = { cin: 8, cout: 16, kh: 1, kw: 1, stride: 1, pad: [0, 0, 0, 0], pixels: 64 };
const FAKE_MS: Record<ConvVariant, number> = { tiled: 9, subgroup: 5, winograd: 2, winograd4: 3, 'winograd-shared': 4, 'winograd4-shared': 6 };

/** A timer that runs the op (so the GPU work is real) and reports fixed times; counts its calls. */
function fakeTimer() {
  const calls: ConvVariant[] = [];
  const timer: ConvTimer = async (g, variant, run) => {
    calls.push(variant);
    run();
    await g.sync();
    return FAKE_MS[variant];
  };
  return { timer, calls };
}

function weightOf(s: ConvShape): Conv2dWeight {
  return { cin: s.cin, cout: s.cout, kh: s.kh, kw: s.kw } as Conv2dWeight; // chooseConvVariant reads only these
}

describe('conv autotuner', () => {
  it('lists the shared-memory Winograd core on every adapter, the subgroup kernels only with 8 lanes', () => {
    const features = (f: object) => ({ features: { subgroups: true, subgroupMinSize: 8, subgroupMaxSize: 8, ...f } }) as unknown as Gpu;
    const shared = ['winograd-shared', 'winograd4-shared'];
    expect(applicableConvVariants(features({}), S3)).toEqual(['tiled', 'subgroup', 'winograd', 'winograd4', ...shared]);
    for (const f of [{ subgroups: false }, { subgroupMinSize: 4, subgroupMaxSize: 4 }, { subgroupMinSize: 32, subgroupMaxSize: 32 }, { subgroupMinSize: 8, subgroupMaxSize: 32 }])
      expect(applicableConvVariants(features(f), S3), JSON.stringify(f)).toEqual(['tiled', ...shared]);
    expect(applicableConvVariants(features({ subgroups: false }), S1)).toEqual(['tiled']);
    expect(applicableConvVariants(features({ subgroups: false }), S3, false)).toEqual(['tiled']);
  });

  it('measures each applicable variant once, keeps the fastest and caches it in the store', async () => {
    const store = memoryStore();
    tuning.store = store;
    const { timer, calls } = fakeTimer();
    const variants = applicableConvVariants(gpu(), S3);
    expect(variants).toContain('tiled');
    const [row] = await tuneConvShapes(gpu(), [S3, { ...S3, pixels: 64 }], { timer }); // one class
    expect(calls).toEqual(variants);
    const fastest = variants.reduce((a, b) => (FAKE_MS[b] < FAKE_MS[a] ? b : a));
    expect(row.record.variant).toBe(fastest);
    expect(row.from).toBe('measured');
    const file = parseTuneFile(store.text!, 'store');
    expect(file.adapters[adapterKey(gpu().adapterInfo)].winners[convShapeKey(S3)].variant).toBe(fastest);
    // A second tune finds it (no timing); a fresh state reads it back from the store.
    const again = await tuneConvShapes(gpu(), [S3], { timer });
    expect(calls.length).toBe(variants.length);
    expect(again[0].from).toBe('memory store');
    resetTuning(gpu());
    expect(lookupConv(gpu(), S3)?.record.variant).toBe(fastest);
    // --full measures again.
    await tuneConvShapes(gpu(), [S3], { timer, full: true });
    expect(calls.length).toBe(2 * variants.length);
  });

  it('times real runs: every variant gets a positive time and the winner is the fastest', async () => {
    const r = await measureConv(gpu(), S1);
    const times = Object.values(r.ms);
    expect(Object.keys(r.ms)).toEqual(applicableConvVariants(gpu(), S1));
    for (const t of times) expect(t).toBeGreaterThan(0);
    expect(r.ms[r.variant]).toBe(Math.min(...times));
  });

  it('sizes a class as one image with that many output pixels', () => {
    expect(measuredSize(S3)).toEqual({ hout: 8, wout: 8, h: 8, w: 8 });
    expect(measuredSize({ ...S3, stride: 2, pad: [0, 1, 0, 1], pixels: 128 * 128 })).toEqual({ hout: 128, wout: 128, h: 256, w: 256 });
    expect(convShapeKey({ ...S3, pixels: 65 })).toBe('conv 8->16 k3x3 s1 p1,1,1,1 px128');
  });

  it('keys the cache by every part of the adapter info and by the library version', () => {
    const info = { vendor: 'v', architecture: 'a', device: 'd', description: 'driver 1' };
    const keys = new Set([adapterKey(info), adapterKey({ ...info, vendor: 'w' }), adapterKey({ ...info, architecture: 'b' }), adapterKey({ ...info, device: 'e' }),
      adapterKey({ ...info, description: 'driver 2' }), adapterKey(info, '9.9.9')]);
    expect(keys.size).toBe(6);
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'));
    expect(LIBRARY_VERSION).toBe(pkg.version);
    expect(gpu().adapterInfo.vendor.length).toBeGreaterThan(0);
  });

  it('reports a corrupt cache file and ignores it; new results replace it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdvae-tune-'));
    try {
      const path = join(dir, 'tune.json');
      const warnings: string[] = [];
      tuning.warn = (m) => warnings.push(m);
      for (const bad of ['{"format": "sdvae-webgpu.tune", "version": 1, "adap', '{"format": "other"}', '{"format": "sdvae-webgpu.tune", "version": 1, "adapters": {"k": {"winners": {"s": {"variant": "fast"}}}}}']) {
        writeFileSync(path, bad);
        expect(readTuneFile(fileTuneStore(path)).adapters).toEqual({});
      }
      expect(warnings.length).toBe(3);
      expect(warnings[0]).toContain(path);
      expect(warnings[0]).toContain('not JSON');
      expect(warnings[1]).toContain('not an sdvae-webgpu tune file');
      expect(warnings[2]).toContain('"s"');
      // A choice with the corrupt store falls back to the rule, and remembering writes a valid file.
      tuning.store = fileTuneStore(path);
      convPolicy.tune = 'cached';
      resetTuning(gpu());
      tuning.shipped = [];
      const rule = (convPolicy.tune = 'off', chooseConvVariant(gpu(), weightOf(S3), 1, S3.pad, S3.pixels));
      convPolicy.tune = 'cached';
      expect(chooseConvVariant(gpu(), weightOf(S3), 1, S3.pad, S3.pixels)).toBe(rule);
      rememberConv(gpu(), [{ shape: S3, record: { variant: 'tiled', ms: { tiled: 1 } } }]);
      expect(parseTuneFile(readFileSync(path, 'utf8'), path).adapters[adapterKey(gpu().adapterInfo)].winners[convShapeKey(S3)].variant).toBe('tiled');
      expect(readdirSync(dir)).toEqual(['tune.json']); // the temp file was renamed
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("'cached' takes a shipped table's winner without timing anything", () => {
    const table: ShippedTable = { name: 'test table', matches: () => true, winners: { [convShapeKey(S3)]: { variant: 'tiled', ms: {} } } };
    tuning.shipped = [table];
    tuning.store = null;
    gpu().opLog = [];
    convPolicy.tune = 'cached';
    expect(chooseConvVariant(gpu(), weightOf(S3), 1, S3.pad, S3.pixels)).toBe('tiled');
    expect(lookupConv(gpu(), S3)?.from).toBe('test table');
    expect(gpu().opLog).toEqual([]); // nothing ran
    gpu().opLog = null;
    expect(missingConvShapes(gpu())).toEqual([]);
  });

  it("'off' never consults the tuner or its store", () => {
    let reads = 0;
    tuning.store = { where: 'counting store', read: () => (reads++, undefined), write: () => { throw new Error('no writes expected'); } };
    tuning.shipped = [{ name: 'all tiled', matches: () => true, winners: { [convShapeKey(S3)]: { variant: 'tiled', ms: {} } } }];
    convPolicy.tune = 'off';
    const rule = chooseConvVariant(gpu(), weightOf(S3), 1, S3.pad, S3.pixels);
    expect(reads).toBe(0);
    expect(seenConvShapes(gpu())).toEqual([]);
    // lavapipe's rule is Winograd here, so the shipped 'tiled' would have changed it had it been read.
    if (applicableConvVariants(gpu(), S3).includes('winograd4')) expect(rule).toBe('winograd4');
  });

  it("'full' records the classes it has no winner for; tuning them fills them in", async () => {
    tuning.store = memoryStore();
    tuning.shipped = [];
    convPolicy.tune = 'full';
    chooseConvVariant(gpu(), weightOf(S1), 1, S1.pad, S1.pixels);
    expect(missingConvShapes(gpu()).map(convShapeKey)).toEqual([convShapeKey(S1)]);
    const { timer } = fakeTimer();
    await tuneConvShapes(gpu(), missingConvShapes(gpu()), { timer });
    expect(missingConvShapes(gpu())).toEqual([]);
    const fastest = applicableConvVariants(gpu(), S1).reduce((a, b) => (FAKE_MS[b] < FAKE_MS[a] ? b : a));
    expect(chooseConvVariant(gpu(), weightOf(S1), 1, S1.pad, S1.pixels)).toBe(fastest);
  });

  it('ignores a remembered winner that cannot run here (Winograd for a 1x1 conv)', () => {
    tuning.shipped = [{ name: 'wrong', matches: () => true, winners: { [convShapeKey(S1)]: { variant: 'winograd4', ms: {} } } }];
    expect(tunedConvVariant(gpu(), S1, 'tiled', 'cached', true)).toBe('tiled');
  });

  it('the lavapipe table matches lavapipe only and names valid classes', () => {
    expect(lavapipeTable.matches({ vendor: 'nvidia', architecture: 'ada', device: 'x', description: '' })).toBe(false);
    expect(lavapipeTable.matches({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: '' })).toBe(true);
    for (const [key, r] of Object.entries(lavapipeTable.winners)) {
      expect(key).toMatch(/^conv \d+->\d+ k\dx\d s\d p[\d,]+ px\d+$/);
      expect(r.ms[r.variant]).toBe(Math.min(...Object.values(r.ms)));
    }
    // It covers the SD VAE's classes at 256x256 (decoder's 512-channel convs at 64x64, encoder's downsampler).
    const key = 'conv 512->512 k3x3 s1 p1,1,1,1 px4096';
    expect(lavapipeTable.winners[key]).toBeDefined();
    expect(lavapipeTable.winners['conv 128->128 k3x3 s2 p0,1,0,1 px16384']).toBeDefined();
    if (lavapipeTable.matches(gpu().adapterInfo)) {
      tuning.store = null;
      convPolicy.tune = 'cached';
      const s: ConvShape = { cin: 512, cout: 512, kh: 3, kw: 3, stride: 1, pad: [1, 1, 1, 1], pixels: 4096 };
      expect(chooseConvVariant(gpu(), weightOf(s), 1, s.pad, s.pixels)).toBe(lavapipeTable.winners[key].variant);
      expect(lookupConv(gpu(), s)?.from).toBe('shipped table (lavapipe)');
    }
  });
});

describe('a tuned choice computes the same conv as the rule', () => {
  const c = kernelIndex().find((c) => c.case === 'conv2d_k3p1_c32to32_16x16')!;
  it(`${c.case}: every variant as the cached winner passes the case at its tolerance`, async () => {
    const g = gpu();
    const t = loadCase(c.file).tensors;
    const run = async () => {
      const x = uploadNchw(g, t, 'input');
      const w = convWeight(g, t, '');
      const y = await readNchw(conv2d(g, x, w, { padding: [1, 1, 1, 1] }));
      x.release();
      w.release();
      return y;
    };
    const shape: ConvShape = { cin: 32, cout: 32, kh: 3, kw: 3, stride: 1, pad: [1, 1, 1, 1], pixels: 256 };
    convPolicy.tune = 'off';
    const ruled = await run();
    expect(maxAbsDiff(ruled, f32(t, 'expected'))).toBeLessThanOrEqual(c.recommended_atol);
    convPolicy.tune = 'cached';
    tuning.store = null;
    for (const variant of applicableConvVariants(g, shape)) {
      tuning.shipped = [{ name: variant, matches: () => true, winners: { [convShapeKey(shape)]: { variant, ms: {} } } }];
      resetTuning(g);
      expect(chooseConvVariant(g, weightOf(shape), 1, shape.pad, shape.pixels)).toBe(variant);
      const y = await run();
      expect(maxAbsDiff(y, f32(t, 'expected'))).toBeLessThanOrEqual(c.recommended_atol);
    }
  });
});

// A layer small enough for its Winograd U to be cached (winogradPolicy 'auto') may lose its direct weight
// to it; a winner that needs the direct weight must then either find it kept ('full') or be passed over.
describe('tuned choices and a cached Winograd U', () => {
  const c = kernelIndex().find((c) => c.case === 'conv2d_k3p1_c32to32_16x16')!;
  const shape: ConvShape = { cin: 32, cout: 32, kh: 3, kw: 3, stride: 1, pad: [1, 1, 1, 1], pixels: 256 };
  const PAD = [1, 1, 1, 1] as const;
  const setup = () => {
    const t = loadCase(c.file).tensors;
    return { t, x: uploadNchw(gpu(), t, 'input'), w: convWeight(gpu(), t, '') };
  };

  it("'full' keeps the direct weight beside the cached U, so a direct winner measured later runs", async () => {
    const g = gpu();
    const { t, x, w } = setup();
    tuning.store = memoryStore();
    tuning.shipped = [];
    convPolicy.tune = 'full';
    resetTuning(g);
    const first = await readNchw(conv2d(g, x, w, { padding: PAD }));
    expect(w.winograd).not.toBeNull(); // the rule's Winograd, its U cached (256 pixels)
    expect(w.directReleased).toBe(false);
    expect(missingConvShapes(g).map(convShapeKey)).toEqual([convShapeKey(shape)]);
    rememberConv(g, [{ shape, record: { variant: 'tiled', ms: {} } }]); // as if measured: the direct conv won
    expect(chooseConvVariant(g, w, 1, shape.pad, shape.pixels)).toBe('tiled');
    const second = await readNchw(conv2d(g, x, w, { padding: PAD }));
    for (const y of [first, second]) expect(maxAbsDiff(y, f32(t, 'expected'))).toBeLessThanOrEqual(c.recommended_atol);
    x.release();
    w.release();
  });

  it("a weight kept only as its cached U passes over a winner that needs the direct weight, and still runs", async () => {
    const g = gpu();
    const { t, x, w } = setup();
    convPolicy.tune = 'off';
    await readNchw(conv2d(g, x, w, { padding: PAD }));
    expect(w.directReleased).toBe(true); // chosen by the rule, not forced: the U replaced it
    tuning.store = null;
    tuning.shipped = [{ name: 'tiled table', matches: () => true, winners: { [convShapeKey(shape)]: { variant: 'tiled', ms: {} } } }];
    resetTuning(g);
    for (const mode of ['cached', 'full'] as const) {
      convPolicy.tune = mode;
      expect(chooseConvVariant(g, weightOf(shape), 1, shape.pad, shape.pixels)).toBe('tiled'); // the class's winner
      const v = chooseConvVariant(g, w, 1, shape.pad, shape.pixels); // this weight's form
      expect(winogradVariant(v)?.tile).toBe(w.winograd!.tile);
      const y = await readNchw(conv2d(g, x, w, { padding: PAD }));
      expect(maxAbsDiff(y, f32(t, 'expected'))).toBeLessThanOrEqual(c.recommended_atol);
    }
    x.release();
    w.release();
  });
});

describe('tune file reader, fuzzed', () => {
  it('2000 mutated files: parsed, or refused with an error naming the file; readTuneFile never throws', () => {
    const valid = JSON.stringify({ format: 'sdvae-webgpu.tune', version: 1, adapters: { k: { adapter: { vendor: 'v' }, library: '0.1.0', winners: { [convShapeKey(S3)]: { variant: 'winograd4', ms: { tiled: 2, winograd4: 1 } } } } } });
    let seed = 99;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n);
    const warnings: string[] = [];
    tuning.warn = (m) => warnings.push(m);
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const chars = [...valid];
      for (let j = 0, n = 1 + rnd(4); j < n; j++) {
        const at = rnd(chars.length);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, '{}[]":,0an-'[rnd(11)]);
        else chars[at] = '{}[]":,0an-'[rnd(11)];
      }
      const text = chars.join('');
      try {
        const f = parseTuneFile(text, 'fuzz.json');
        for (const a of Object.values(f.adapters)) for (const r of Object.values(a.winners)) expect(typeof r.ms).toBe('object');
      } catch (e) {
        refused++;
        expect((e as Error).message).toMatch(/^fuzz\.json: /);
      }
      expect(() => readTuneFile(memoryStore(text))).not.toThrow();
    }
    expect(refused).toBeGreaterThan(1000);
    expect(warnings.length).toBe(refused);
  });
});

describe('tune stores', () => {
  it('localStorage store round-trips through a fake storage object', () => {
    const items = new Map<string, string>();
    const fake = { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v) };
    const store: TuneStore = localStorageStore(fake);
    expect(store.read()).toBeUndefined();
    tuning.store = store;
    rememberConv(gpu(), [{ shape: S1, record: { variant: 'tiled', ms: { tiled: 1.5 } } }]);
    expect(items.has('sdvae-webgpu.tune')).toBe(true);
    resetTuning(gpu());
    tuning.store = localStorageStore(fake);
    expect(lookupConv(gpu(), S1)).toEqual({ record: { variant: 'tiled', ms: { tiled: 1.5 } }, from: 'localStorage["sdvae-webgpu.tune"]' });
  });

  it('the file store lives in XDG_CACHE_HOME or ~/.cache and reads nothing when absent', () => {
    expect(defaultTuneFilePath({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/sdvae-webgpu/tune.json');
    expect(defaultTuneFilePath({})).toMatch(/\.cache\/sdvae-webgpu\/tune\.json$/);
    expect(defaultTuneFilePath({ XDG_CACHE_HOME: '/x/cache', SDVAE_TUNE_FILE: '/y/t.json' })).toBe('/y/t.json');
    const dir = mkdtempSync(join(tmpdir(), 'sdvae-tune-'));
    try {
      const store = fileTuneStore(join(dir, 'sub', 'tune.json'));
      expect(store.read()).toBeUndefined();
      store.write('{}');
      expect(existsSync(join(dir, 'sub', 'tune.json'))).toBe(true);
      expect(store.read()).toBe('{}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
