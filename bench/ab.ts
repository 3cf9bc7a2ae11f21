// A/B timing for kernel changes on a shared machine: the old and the new way of computing the same
// op are run alternately (old, new, old, new, ...) in one process, each run submitted and waited for
// and timed by its GPU time (timestamp queries; wall time on adapters without them),
// so drift in the machine's load hits both alike; the table gives each side's median and the ratio
// new / old of the medians. A first run of each side compiles its pipelines and is not counted. Each
// side's output is read back once and compared, so a "faster" side that computes something else is
// caught (the max abs difference is printed).

import type { Gpu } from '../src/gpu/gpu.js';
import type { Tensor } from '../src/gpu/tensor.js';

export interface Side {
  name: string;
  /** Records the op (and whatever switches select this side); returns its output. */
  run: () => Tensor;
}

export interface AbResult {
  what: string;
  oldMs: number;
  newMs: number;
  ratio: number;
  maxAbsDiff: number;
  reps: number;
}

/** GPU time of one run (timestamp queries, summed over its ops) where the adapter has them, else wall time. */
async function timeOnce(gpu: Gpu, side: Side): Promise<number> {
  const gpuTimes = gpu.profiler.supported;
  if (gpuTimes) gpu.profiler.start();
  const t0 = performance.now();
  const y = side.run();
  await gpu.sync();
  const wall = performance.now() - t0;
  if (gpuTimes) gpu.profiler.stop();
  y.release();
  return gpuTimes ? gpu.timings().reduce((a, t) => a + t.ms, 0) : wall;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

export async function ab(gpu: Gpu, what: string, oldSide: Side, newSide: Side, reps = 7): Promise<AbResult> {
  const outs: Float32Array[] = [];
  for (const s of [oldSide, newSide]) {
    const y = s.run();
    outs.push(await y.read());
    y.release();
  }
  let maxAbsDiff = 0;
  for (let i = 0; i < outs[0].length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(outs[0][i] - outs[1][i]));
  const times: [number[], number[]] = [[], []];
  for (let r = 0; r < reps; r++) {
    times[0].push(await timeOnce(gpu, oldSide));
    times[1].push(await timeOnce(gpu, newSide));
  }
  const [oldMs, newMs] = [median(times[0]), median(times[1])];
  process.stderr.write(`${what}: ${oldSide.name} ${oldMs.toFixed(1)} ms, ${newSide.name} ${newMs.toFixed(1)} ms\n`);
  return { what, oldMs, newMs, ratio: newMs / oldMs, maxAbsDiff, reps };
}

export function abTable(rows: AbResult[], oldName: string, newName: string): string {
  const head = `| op | ${oldName} ms | ${newName} ms | new / old | max abs diff | reps |\n|---|---:|---:|---:|---:|---:|`;
  return [head, ...rows.map((r) => `| ${r.what} | ${r.oldMs.toFixed(1)} | ${r.newMs.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.maxAbsDiff.toExponential(1)} | ${r.reps} |`)].join('\n');
}
