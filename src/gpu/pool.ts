// Buffer pool: activations of a model have the same sizes run after run, so buffers released by one
// op are handed to the next op that asks for the same size class instead of being created again.
// Repeated runs therefore do not grow memory; `trim()` destroys what is idle.
//
// Size classes are rounded up to 1/8 of the next power of two (at most 12.5 % slack), so tensors of
// nearly equal size share buffers.

export interface PoolStats {
  /** Bytes of all buffers the pool owns (in use + idle). */
  allocatedBytes: number;
  /** Bytes currently handed out. */
  inUseBytes: number;
  /** Highest inUseBytes seen since the last resetPeak(). */
  peakInUseBytes: number;
  /** Highest allocatedBytes seen since the last resetPeak(). */
  peakAllocatedBytes: number;
  buffers: number;
}

export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  const pow = 2 ** Math.floor(Math.log2(b));
  const step = Math.max(256, pow / 8);
  return Math.ceil(b / step) * step;
}

const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (GPUBufferUsage values)

export class BufferPool {
  private idle = new Map<number, GPUBuffer[]>();
  private sizes = new Map<GPUBuffer, number>();
  private inUse = new Set<GPUBuffer>();
  private stats: PoolStats = { allocatedBytes: 0, inUseBytes: 0, peakInUseBytes: 0, peakAllocatedBytes: 0, buffers: 0 };

  /** Memory planning: buffers are accounted at their real size but created with 256 bytes. */
  dryRun = false;

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  acquire(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.maxBufferSize)
      throw new Error(`${label}: needs a ${bytes}-byte buffer, above the adapter's maxBufferSize ${this.maxBufferSize}`);
    let buffer = this.idle.get(size)?.pop();
    if (!buffer) {
      buffer = this.device.createBuffer({ size: this.dryRun ? 256 : size, usage: STORAGE, label });
      this.sizes.set(buffer, size);
      this.stats.allocatedBytes += size;
      this.stats.buffers++;
      this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    }
    this.inUse.add(buffer);
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined || !this.inUse.delete(buffer)) throw new Error('BufferPool.release: buffer is not in use');
    this.stats.inUseBytes -= size;
    const list = this.idle.get(size) ?? [];
    list.push(buffer);
    this.idle.set(size, list);
  }

  /** Destroys idle buffers. Safe between submits: WebGPU defers destruction until queued work ends. */
  trim(): void {
    for (const list of this.idle.values())
      for (const b of list) {
        this.stats.allocatedBytes -= this.sizes.get(b)!;
        this.stats.buffers--;
        this.sizes.delete(b);
        b.destroy();
      }
    this.idle.clear();
  }

  resetPeak(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }

  destroyAll(): void {
    this.trim();
    for (const b of this.inUse) b.destroy();
    this.inUse.clear();
    this.sizes.clear();
    this.stats = { allocatedBytes: 0, inUseBytes: 0, peakInUseBytes: 0, peakAllocatedBytes: 0, buffers: 0 };
  }
}
