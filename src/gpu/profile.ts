// GPU time per op from timestamp queries: each op's compute pass writes a timestamp at its start and
// its end. Query sets are resolved into a buffer at submit and read back at the next sync.
// Adapters without `timestamp-query` get no timings (results() is empty), never made-up numbers.

import type { Gpu } from './gpu.js';

export interface OpTiming {
  label: string;
  /** GPU time of the op's pass in milliseconds. */
  ms: number;
}

const CAPACITY = 2048; // queries per set: 1024 ops

interface Batch {
  querySet: GPUQuerySet;
  labels: string[];
  readback?: GPUBuffer;
  resolveBuf?: GPUBuffer;
}

export class Profiler {
  enabled = false;
  private current: Batch | null = null;
  private pending: Batch[] = [];
  private done: OpTiming[] = [];

  constructor(private readonly device: GPUDevice, readonly supported: boolean) {}

  /** Starts recording timings (throws on adapters without timestamp-query). */
  start(): void {
    if (!this.supported) throw new Error('this adapter has no timestamp-query feature: GPU times are not available');
    this.enabled = true;
    this.done = [];
  }

  stop(): void {
    this.enabled = false;
  }

  begin(label: string, gpu: Gpu): GPUComputePassTimestampWrites {
    if (this.current && this.current.labels.length * 2 >= CAPACITY) gpu.flush();
    this.current ??= { querySet: this.device.createQuerySet({ type: 'timestamp', count: CAPACITY }), labels: [] };
    const i = this.current.labels.length;
    this.current.labels.push(label);
    return { querySet: this.current.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Called by Gpu.flush before finishing the encoder. */
  resolve(encoder: GPUCommandEncoder): void {
    const b = this.current;
    if (!b) return;
    this.current = null;
    const bytes = b.labels.length * 2 * 8;
    b.resolveBuf = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    b.readback = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(b.querySet, 0, b.labels.length * 2, b.resolveBuf, 0);
    encoder.copyBufferToBuffer(b.resolveBuf, 0, b.readback, 0, bytes);
    this.pending.push(b);
  }

  async collect(): Promise<void> {
    const batches = this.pending;
    this.pending = [];
    for (const b of batches) {
      await b.readback!.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(b.readback!.getMappedRange());
      b.labels.forEach((label, i) => this.done.push({ label, ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 }));
      b.readback!.unmap();
      b.readback!.destroy();
      b.resolveBuf!.destroy();
      b.querySet.destroy();
    }
  }

  results(): OpTiming[] {
    return [...this.done];
  }

  destroy(): void {
    this.current?.querySet.destroy();
    this.current = null;
  }
}
