// Measuring conv2d variants for the tuner (gpu/tune.ts). A shape class is timed on random data of its
// shape: an input of one image whose output has the class's pixel count (as square as a power of two
// allows), f32 weights. Each variant runs once to warm up (pipeline compilation, Winograd U made and
// cached as the model would) and once timed: GPU time from timestamp queries where the adapter has
// `timestamp-query` (the sum of the op's passes), else the wall time of recording, submitting and
// waiting (synced, so it includes the submit overhead a model run pays too). One timed run is noisy on
// a loaded machine; the tune command's table shows every variant's time so a close call can be seen.

import type { Gpu } from './gpu.js';
import { conv2d, Conv2dWeight, type ConvVariant } from '../kernels/conv2d.js';
import { applicableConvVariants, convShapeKey, lookupConv, pixelClass, rememberConv, type ConvShape, type TuneRecord } from './tune.js';

/** Times `run` (which records GPU work) and returns milliseconds. */
export type ConvTimer = (gpu: Gpu, variant: ConvVariant, run: () => void) => Promise<number>;

export const timestampTimer: ConvTimer = async (gpu, _variant, run) => {
  await gpu.sync();
  gpu.profiler.start();
  try {
    run();
    await gpu.sync();
    return gpu.timings().reduce((sum, t) => sum + t.ms, 0);
  } finally {
    gpu.profiler.stop();
  }
};

export const wallTimer: ConvTimer = async (gpu, _variant, run) => {
  await gpu.sync();
  const t0 = performance.now();
  run();
  await gpu.sync();
  return performance.now() - t0;
};

/** Timestamp queries where the adapter has them, else synced wall time. */
export const defaultTimer = (gpu: Gpu): ConvTimer => (gpu.features.timestamps ? timestampTimer : wallTimer);

/** Output and input sizes of one image whose output has `pixelClass(s.pixels)` pixels. */
export function measuredSize(s: ConvShape): { hout: number; wout: number; h: number; w: number } {
  const e = Math.log2(pixelClass(s.pixels));
  const hout = 2 ** Math.floor(e / 2);
  const wout = 2 ** Math.ceil(e / 2);
  const [pt, pb, pl, pr] = s.pad;
  return { hout, wout, h: (hout - 1) * s.stride + s.kh - pt - pb, w: (wout - 1) * s.stride + s.kw - pl - pr };
}

function random(n: number, seed: number, scale: number): Float32Array {
  let x = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2 * scale);
}

/** Every applicable variant's time for one class, and the fastest. */
export async function measureConv(gpu: Gpu, s: ConvShape, timer: ConvTimer = defaultTimer(gpu), winograd = true, only?: readonly ConvVariant[]): Promise<TuneRecord> {
  if (gpu.dryRun) throw new Error(`tune ${convShapeKey(s)}: a dry-run Gpu cannot measure`);
  const { h, w } = measuredSize(s);
  const k = Conv2dWeight.fromTorch(gpu, random(s.cout * s.cin * s.kh * s.kw, 7, 1 / Math.sqrt(s.cin * s.kh * s.kw)), [s.cout, s.cin, s.kh, s.kw], random(s.cout, 11, 0.1), 'tune');
  const x = gpu.upload(random(h * w * s.cin, 3, 1), [1, h, w, s.cin], 'tune.x');
  const ms: TuneRecord['ms'] = {};
  try {
    const candidates = applicableConvVariants(gpu, s, winograd).filter((v) => !only || only.includes(v));
    if (candidates.length === 0) throw new Error(`tune ${convShapeKey(s)}: none of the variants ${only?.join(', ')} applies here`);
    for (const variant of candidates) {
      const run = () => conv2d(gpu, x, k, { stride: s.stride, padding: s.pad as [number, number, number, number], variant }, `tune.${variant}`).release();
      run(); // warm-up
      await gpu.sync();
      ms[variant] = await timer(gpu, variant, run);
    }
  } finally {
    await gpu.sync();
    x.release();
    k.release();
  }
  const variant = (Object.entries(ms) as [ConvVariant, number][]).reduce((a, b) => (b[1] < a[1] ? b : a))[0];
  return { variant, ms };
}

export interface TuneRow {
  shape: ConvShape;
  record: TuneRecord;
  /** 'measured', or where the result was found (the store, a shipped table). */
  from: string;
}

/**
 * Measures the classes in `shapes` (each once, by key) that have no stored or shipped result, or all of
 * them with `full` (timing only `variants` where given), remembers the winners (and saves them to `tuning.store`), and returns one row per class.
 */
export async function tuneConvShapes(gpu: Gpu, shapes: ConvShape[], opts: { full?: boolean; timer?: ConvTimer; winograd?: boolean; variants?: readonly ConvVariant[]; onRow?: (row: TuneRow) => void } = {}): Promise<TuneRow[]> {
  const byKey = new Map(shapes.map((s) => [convShapeKey(s), s]));
  const rows: TuneRow[] = [];
  for (const shape of byKey.values()) {
    const found = opts.full ? undefined : lookupConv(gpu, shape);
    const row = found ? { shape, record: found.record, from: found.from } : { shape, record: await measureConv(gpu, shape, opts.timer, opts.winograd, opts.variants), from: 'measured' };
    if (!found) rememberConv(gpu, [row]);
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}
