// Model runs in the planned activation arena (Gpu.planned, gpu/arena.ts): each encode and decode is
// planned once per key and then run with its activations at the planned offsets.
//
// The key names what the run's sequence of allocations depends on: the op, the input's shape, the
// activation dtype and options, and the kernel policies that choose variants and bands (a variant
// with other scratch makes other allocations). A key that misses something is safe, only wasteful:
// the run notices it left its plan, takes the rest from the pool and is planned afresh next time.

import type { Gpu } from '../gpu/gpu.js';
import { convPolicy } from '../kernels/conv2d.js';
import { winogradPolicy } from '../kernels/winograd.weights.js';

const runKey = (gpu: Gpu, what: string) => `${what}|${JSON.stringify(convPolicy)}|${JSON.stringify(winogradPolicy)}|${gpu.maxBindingBytes}`;

export function plannedRun<T>(gpu: Gpu, owner: object, what: string, run: (standIn: boolean) => T, release: (out: T) => void): T {
  return gpu.planned(owner, runKey(gpu, what), run, release);
}

/** Plans the run `plannedRun` will make with the same `what` before it is called (Gpu.prepare). */
export function preparedRun<T>(gpu: Gpu, owner: object, what: string, run: (standIn: boolean) => T, release: (out: T) => void): Promise<void> {
  return gpu.prepare(owner, runKey(gpu, what), run, release);
}
