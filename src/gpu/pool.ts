// Buffer pool: activations of a model have the same sizes run after run, so buffers released by one
// op are handed to the next op that asks for the same size class instead of being created again.
// Repeated runs therefore do not grow memory; `trim()` destroys what is idle.
//
// Size classes are rounded up to 1/8 of the next power of two (at most 12.5 % slack), so tensors of
// nearly equal size share buffers. A request that finds no idle buffer of its class takes the
// smallest idle buffer up to twice its size; failing that, a new buffer is made. Idle buffers are not
// destroyed mid-run (see acquire: that would not free memory before the GPU catches up), so the pool
// holds more than the peak of live tensors: up to ~2x for the consistency UNet, whose tensors come in
// many sizes (bench:memory shows both). Placing tensors at planned offsets in shared buffers is the
// way to hold only the live peak (docs/benchmarks.md, "what is left").

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
  /** Bytes of textures (Winograd weights) counted in allocated and in-use bytes. */
  textureBytes: number;
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
  private stats: PoolStats = { allocatedBytes: 0, inUseBytes: 0, peakInUseBytes: 0, peakAllocatedBytes: 0, buffers: 0, textureBytes: 0 };

  /** Memory planning: buffers are accounted at their real size but created with 256 bytes. */
  dryRun = false;


  private idleBytes = 0;
  /** Stand-in buffers made while planning (Gpu.plan), destroyed when it ends. */
  private planStubs: Set<GPUBuffer> | undefined;
  private planSaved: { peakInUseBytes: number; peakAllocatedBytes: number } | undefined;
  private planDelta = 0;

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  /** `exact`: round only to 256 bytes (long-lived parameters, where class slack would be waste). */
  acquire(bytes: number, label: string, exact = false): GPUBuffer {
    const size = exact ? Math.max(256, Math.ceil(bytes / 256) * 256) : sizeClass(bytes);
    if (size > this.maxBufferSize)
      throw new Error(`${label}: needs a ${bytes}-byte buffer, above the adapter's maxBufferSize ${this.maxBufferSize}`);
    let buffer = this.takeIdle(size, exact);
    if (!buffer) {
      // No idle buffer is destroyed to make room: WebGPU frees a destroyed buffer only once the
      // submitted work that uses it has run, and a decode is recorded far ahead of the GPU, so
      // memory freed mid-recording is not free at all (measured: a real 512x512 SD VAE decode held
      // 1.7x what a "destroy before growing" plan counted). Idle buffers stay for reuse; trim()
      // destroys them between runs.
      const stub = this.dryRun || this.planStubs !== undefined;
      buffer = this.device.createBuffer({ size: stub ? 256 : size, usage: STORAGE, label });
      this.planStubs?.add(buffer);
      this.sizes.set(buffer, size);
      this.stats.allocatedBytes += size;
      this.stats.buffers++;
      this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    }
    this.inUse.add(buffer);
    this.stats.inUseBytes += this.sizes.get(buffer)!;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
    return buffer;
  }

  /**
   * A texture (Winograd weights) created outside the pool: its bytes count in the statistics as
   * allocated and in use until `untrackTexture`, so plans and benchmarks count every GPU byte.
   */
  trackTexture(bytes: number): void {
    this.stats.allocatedBytes += bytes;
    this.stats.inUseBytes += bytes;
    this.stats.textureBytes += bytes;
    this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
  }

  untrackTexture(bytes: number): void {
    this.stats.allocatedBytes -= bytes;
    this.stats.inUseBytes -= bytes;
    this.stats.textureBytes -= bytes;
  }

  /**
   * Planning on a live pool (Gpu.plan): from now on new buffers are 256-byte stand-ins accounted at
   * their real size, and the peak is tracked afresh. Returns the bytes allocated now.
   */
  beginPlan(): number {
    this.planSaved = { peakInUseBytes: this.stats.peakInUseBytes, peakAllocatedBytes: this.stats.peakAllocatedBytes };
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
    this.stats.peakInUseBytes = this.stats.inUseBytes;
    this.planStubs = new Set();
    return this.stats.allocatedBytes;
  }

  /**
   * Ends a plan: destroys the stand-ins (all idle by now, or the run leaked), restores the peaks as
   * they were, and returns the plan's peak of allocated bytes.
   */
  endPlan(): number {
    const stubs = this.planStubs;
    if (!stubs || !this.planSaved) throw new Error('BufferPool.endPlan without beginPlan');
    const peak = this.stats.peakAllocatedBytes;
    for (const [cls, list] of this.idle) {
      const keep = list.filter((b) => !stubs.has(b));
      for (const b of list) if (stubs.has(b)) this.destroyBuffer(b);
      this.idle.set(cls, keep);
    }
    this.stats.allocatedBytes -= this.planDelta;
    this.stats.inUseBytes -= this.planDelta;
    this.planDelta = 0;
    const leaked = [...this.inUse].filter((b) => stubs.has(b));
    this.planStubs = undefined;
    this.stats.peakInUseBytes = Math.max(this.planSaved.peakInUseBytes, this.stats.inUseBytes);
    this.stats.peakAllocatedBytes = Math.max(this.planSaved.peakAllocatedBytes, this.stats.allocatedBytes);
    this.planSaved = undefined;
    if (leaked.length) throw new Error(`BufferPool.endPlan: the planned run kept ${leaked.length} buffer(s) (${leaked.map((b) => b.label).join(', ')}); release what it returns`);
    return peak;
  }

  /**
   * While planning: counts `delta` bytes more (or, negative, fewer) as allocated and in use, for what a
   * real run frees or makes that the plan does not (a weight released once its Winograd form is made).
   * Undone by endPlan.
   */
  planAdjust(delta: number): void {
    if (!this.planStubs) throw new Error('BufferPool.planAdjust outside a plan');
    this.planDelta += delta;
    this.stats.allocatedBytes += delta;
    this.stats.inUseBytes += delta;
    this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
  }

  /**
   * While planning: what a real run's `release` of an exact-size buffer of `bytes` does (it becomes
   * idle, reusable by later requests), for a buffer the plan may not really release (a weight whose
   * Winograd form replaces it). Its bytes move from in use to an idle stand-in.
   */
  planRelease(bytes: number): void {
    if (!this.planStubs) throw new Error('BufferPool.planRelease outside a plan');
    const size = Math.max(256, Math.ceil(bytes / 256) * 256);
    this.planAdjust(-size);
    const stub = this.device.createBuffer({ size: 256, usage: STORAGE, label: 'planned release' });
    this.planStubs.add(stub);
    this.sizes.set(stub, size);
    this.stats.allocatedBytes += size;
    this.stats.buffers++;
    const list = this.idle.get(size) ?? [];
    list.push(stub);
    this.idle.set(size, list);
    this.idleBytes += size;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined || !this.inUse.delete(buffer)) throw new Error('BufferPool.release: buffer is not in use');
    this.stats.inUseBytes -= size;
    const list = this.idle.get(size) ?? [];
    list.push(buffer);
    this.idle.set(size, list);
    this.idleBytes += size;
  }

  /** An idle buffer of this class, or (unless exact) the smallest idle one of at most twice the size. */
  private takeIdle(size: number, exact: boolean): GPUBuffer | undefined {
    let best = this.idle.get(size)?.length ? size : 0;
    if (!best && !exact) for (const [cls, list] of this.idle) if (list.length && cls > size && cls <= 2 * size && (!best || cls < best)) best = cls;
    if (!best) return undefined;
    this.idleBytes -= best;
    return this.idle.get(best)!.pop();
  }

  private destroyBuffer(b: GPUBuffer): void {
    const size = this.sizes.get(b)!;
    this.stats.allocatedBytes -= size;
    this.idleBytes -= size;
    this.stats.buffers--;
    this.sizes.delete(b);
    b.destroy();
  }

  /** Destroys idle buffers. Safe between submits: WebGPU defers destruction until queued work ends. */
  trim(): void {
    for (const list of this.idle.values()) for (const b of list) this.destroyBuffer(b);
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
    this.stats = { allocatedBytes: 0, inUseBytes: 0, peakInUseBytes: 0, peakAllocatedBytes: 0, buffers: 0, textureBytes: 0 };
    this.idleBytes = 0;
  }
}
