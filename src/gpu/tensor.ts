// A Tensor is a GPU buffer plus a shape. Activations are stored channels-last (NHWC): shape
// [N, H, W, C]. That layout is what lets a tensor larger than one storage binding be processed in
// bands of rows: rows [h0, h1) of image n are one contiguous byte range (see dispatch.ts, bands).
//
// PyTorch (and the reference files) use NCHW; the conversion happens only at the edges (upload and
// read), through nchwToNhwc / nhwcToNchw below.

import type { Gpu } from './gpu.js';
import type { Block } from './pool.js';
import { bf16ToF32, f16ToF32 } from '../io/dtype.js';

/**
 * What a tensor's elements are stored as: activations are f32, or f16 on the f16-activation path
 * (kernels/activation.ts; 2 bytes each, read by kernels as `array<f16>` with `shader-f16`); weights
 * may be f16 or bf16, packed two per 32-bit word (kernels/weight_format.ts).
 */
export type DType = 'f32' | 'f16' | 'bf16';

/** Bytes per element of dtype (a storage binding's offsets and sizes are counted in these). */
export const elementBytes = (dtype: DType) => (dtype === 'f32' ? 4 : 2);

/** Bytes of n elements of dtype, rounded up to whole 32-bit words (what the buffer holds). */
export const dtypeBytes = (n: number, dtype: DType) => (dtype === 'f32' ? n * 4 : Math.ceil(n / 2) * 4);

export class Tensor {
  /** Set once release() returned the buffer to the pool; any later use is a bug we want to see. */
  private released = false;

  constructor(
    readonly gpu: Gpu,
    /** Where the elements are: a pooled buffer, or a placement in the activation arena (arena.ts). */
    readonly block: Block,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    readonly label = '',
  ) {}

  get buffer(): GPUBuffer {
    return this.block.buffer;
  }

  /** Byte offset of element 0 in `buffer` (a multiple of 256; 0 outside the arena). */
  get offset(): number {
    return this.block.offset;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    return dtypeBytes(this.size, this.dtype);
  }

  /**
   * Copies the tensor back to the CPU, in its stored layout, as f32 values (f16 and bf16 are widened
   * on the CPU, exactly). Submits any pending GPU work first.
   */
  async read(): Promise<Float32Array> {
    this.assertLive();
    const words = await this.gpu.readBuffer(this.buffer, this.byteLength, this.offset);
    if (this.dtype === 'f32') return words;
    const halves = new Uint16Array(words.buffer, words.byteOffset, this.size);
    return this.dtype === 'f16' ? f16ToF32(halves) : bf16ToF32(halves);
  }

  /**
   * The same buffer seen with another shape of the same size. A view shares ownership: release the
   * view or the original, not both.
   */
  reshape(shape: readonly number[], label = this.label): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== this.size) throw new Error(`reshape ${this}: [${shape}] has ${n} elements, not ${this.size}`);
    return new Tensor(this.gpu, this.block, shape, this.dtype, label);
  }

  /** Returns the memory to the gpu's pool. The tensor must not be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.gpu.pool.free(this.block);
  }

  /**
   * Frees the memory instead of keeping it for reuse (a long-lived tensor no longer needed). Work
   * already recorded that uses it runs first.
   */
  destroy(): void {
    if (this.released) return;
    this.released = true;
    this.gpu.pool.discard(this.block);
  }

  get isReleased(): boolean {
    return this.released;
  }

  assertLive(): void {
    if (this.released) throw new Error(`tensor ${this.label || '(unnamed)'} [${this.shape}] used after release()`);
  }

  toString(): string {
    return `${this.label || 'tensor'}[${this.shape.join('x')}]`;
  }
}

/** [N, C, H, W] -> [N, H, W, C] on the CPU. */
export function nchwToNhwc(x: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + ch] = x[(b * c + ch) * h * w + i];
  return out;
}

/** [N, H, W, C] -> [N, C, H, W] on the CPU. */
export function nhwcToNchw(x: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) out[(b * c + ch) * h * w + i] = x[(b * h * w + i) * c + ch];
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
