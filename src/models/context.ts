// What a forward pass carries besides tensors: the GPU, and optional activation taps.
//
// Taps: when `taps` is set, every module's output is copied (on the GPU, in the same command stream)
// into a tensor stored under its diffusers path (`decoder.mid_block`, ...). The caller reads and
// releases them. When unset, `emit` does nothing: no copy, no cost.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';

export interface RunContext {
  gpu: Gpu;
  taps?: Map<string, Tensor>;
  /** Only these paths are kept (default: all). */
  tapFilter?: (path: string) => boolean;
}

export function emit(ctx: RunContext, path: string, t: Tensor): void {
  if (!ctx.taps || ctx.gpu.dryRun || (ctx.tapFilter && !ctx.tapFilter(path))) return;
  // Exact: a tap outlives the run, so it is a pooled buffer, never an arena placement (and a plan,
  // which makes no taps, must see the same activations as the run). read() widens f16 taps to f32.
  const copy = ctx.gpu.empty(t.shape, path, t.dtype, true);
  ctx.gpu.commandEncoder().copyBufferToBuffer(t.buffer, t.offset, copy.buffer, copy.offset, t.byteLength);
  ctx.taps.get(path)?.release();
  ctx.taps.set(path, copy);
}
