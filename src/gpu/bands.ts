// Tensors larger than one storage binding.
//
// WebGPU lets a buffer be large (maxBufferSize, 4 GiB on lavapipe) but a single storage binding only
// maxStorageBufferBindingSize (128 MiB on lavapipe and in many browsers), while a 512x512 SD VAE decode
// has 256 MiB activations. Activations are NHWC, so the rows [r0, r1) of the flattened (n, h) row
// space are one contiguous range. An op is dispatched once per band of output rows; each dispatch
// binds only the input rows that band reads (a 3x3 conv: the band plus one halo row each side).
// Every output element is computed by the same code from the same inputs as without banding, so the
// result is bit-identical: there are no seams, unlike tiled decoding.

import type { Gpu } from './gpu.js';

export interface Band {
  /** First output row (flattened n*H + h, or element index for flat ops). */
  r0: number;
  /** One past the last. */
  r1: number;
}

/** An element range [start, end) of one tensor that a band binds. */
export type Range = [number, number];

/** Bytes a binding of elements [start, end) occupies once its offset is aligned down. */
export function boundBytes(gpu: Gpu, [start, end]: Range): number {
  const alignElems = gpu.storageAlign / 4;
  return (end - Math.floor(start / alignElems) * alignElems) * 4;
}

/**
 * Splits [0, total) into the fewest greedy bands [r0, r1) whose bound ranges all fit in the planning
 * limit. `ranges(r0, r1)` lists the element range of every tensor the band binds; `granule` keeps
 * band starts on a multiple (e.g. a kernel's tile height).
 */
export function planBands(gpu: Gpu, total: number, ranges: (r0: number, r1: number) => Range[], what: string, granule = 1): Band[] {
  const fits = (r0: number, r1: number) => ranges(r0, r1).every((r) => boundBytes(gpu, r) <= gpu.maxBindingBytes);
  if (fits(0, total)) return [{ r0: 0, r1: total }];
  const bands: Band[] = [];
  let r0 = 0;
  while (r0 < total) {
    // Largest r1 with fits(r0, r1): fits is monotone in r1, so grow then bisect.
    let lo = r0 + 1;
    if (!fits(r0, lo))
      throw new Error(`${what}: one row needs more than the ${gpu.maxBindingBytes}-byte binding limit (${ranges(r0, lo).map((r) => boundBytes(gpu, r)).join(', ')} bytes)`);
    let hi = Math.min(total, r0 + 2);
    while (hi < total && fits(r0, hi)) {
      lo = hi;
      hi = Math.min(total, r0 + (hi - r0) * 2);
    }
    if (fits(r0, hi)) lo = hi;
    else
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (fits(r0, mid)) lo = mid;
        else hi = mid;
      }
    let r1 = lo;
    if (r1 < total && granule > 1 && r1 - r0 >= granule) r1 = r0 + Math.floor((r1 - r0) / granule) * granule;
    bands.push({ r0, r1 });
    r0 = r1;
  }
  return bands;
}
