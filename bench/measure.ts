// Timing one model run for the benchmarks: a warm-up run (compiles the pipelines, caches what the
// Winograd policy caches), then `runs` timed runs, each submitted and waited for; the median, every
// run's time, the GFLOP the ops recorded (multiply-adds x 2 of every conv and matmul) and the peak GPU
// memory the pool had in use after the warm-up.

import type { Gpu } from '../src/gpu/gpu.js';
import type { Tensor } from '../src/gpu/tensor.js';

export interface Measured {
  what: string;
  medianS: number;
  runs: number[];
  gflop: number;
  peakMiB: number;
}

export async function measure(gpu: Gpu, what: string, run: () => Tensor, runs: number, afterWarmUp?: () => Promise<void>): Promise<Measured> {
  const once = async () => {
    gpu.opLog = [];
    const t0 = performance.now();
    const y = run();
    await gpu.sync();
    const s = (performance.now() - t0) / 1000;
    y.release();
    const gflop = gpu.opLog.reduce((a, o) => a + o.flops, 0) / 1e9;
    gpu.opLog = null;
    return { s, gflop };
  };
  process.stderr.write(`${what}: warm-up run\n`);
  await once();
  await afterWarmUp?.();
  gpu.pool.resetPeak();
  const times: number[] = [];
  let gflop = 0;
  for (let i = 0; i < runs; i++) {
    const r = await once();
    times.push(r.s);
    gflop = r.gflop;
    process.stderr.write(`${what}: run ${i + 1}/${runs} ${r.s.toFixed(2)} s\n`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { what, medianS: sorted[Math.floor(sorted.length / 2)], runs: times, gflop, peakMiB: gpu.pool.getStats().peakInUseBytes / 2 ** 20 };
}
