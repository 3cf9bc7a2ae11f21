// Buffer pool: activations of a model have the same sizes run after run, so buffers released by one
// op are handed to the next op that asks for the same size class instead of being created again.
// Repeated runs therefore do not grow memory; `trim()` destroys what is idle.
//
// Model runs (Gpu.planned: every encode and decode) do better: their activations are placed at
// planned offsets inside a few large buffers, the arena (arena.ts), so the pool holds the run's live
// peak instead of a buffer per size class. What follows is the pool for everything else (weights,
// uploads, kernels run one by one) and the fallback when a run leaves its plan.
//
// Size classes are rounded up to 1/8 of the next power of two (at most 12.5 % slack), so tensors of
// nearly equal size share buffers. A request that finds no idle buffer of its class takes the
// smallest idle buffer up to twice its size; failing that, a new buffer is made. Idle buffers are not
// destroyed mid-run (see acquire: that would not free memory before the GPU catches up), so the pool
// holds more than the peak of live tensors: up to ~2x for the consistency UNet, whose tensors come in
// many sizes (docs/benchmarks.md, the memory table before the arena), which is why model runs use the arena.

import { ArenaReplay, ArenaTrace, arenaBytes, packArena, type ArenaLayout } from './arena.js';

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
  /** Bytes of the activation arena's buffers (counted in allocatedBytes). */
  arenaBytes: number;
  /** Runs that left their plan (their later activations came from the pool; see arena.ts). */
  arenaFallbacks: number;
}

/** The buffers of one arena layout and how many of their placements are live. */
interface ArenaSet {
  buffers: GPUBuffer[];
  sizes: number[];
  live: number;
  /** A newer set replaced it while some of its placements were live: destroyed when the last goes. */
  retired: boolean;
}

/**
 * Where a tensor's bytes are: a buffer and the byte offset of the first element, with `size` bytes
 * reserved. A pooled buffer is one block at offset 0; an arena block is a placement in a bin.
 */
export class Block {
  live = true;
  constructor(
    readonly buffer: GPUBuffer,
    readonly offset: number,
    readonly size: number,
    /** Arena placements: their set, or the trace being recorded, and their allocation id. */
    readonly arena?: { set?: ArenaSet; trace?: ArenaTrace; replay?: ArenaReplay; id: number },
  ) {}
}

export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  const pow = 2 ** Math.floor(Math.log2(b));
  const step = Math.max(256, pow / 8);
  return Math.ceil(b / step) * step;
}

const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (GPUBufferUsage values)
const emptyStats = (): PoolStats => ({ allocatedBytes: 0, inUseBytes: 0, peakInUseBytes: 0, peakAllocatedBytes: 0, buffers: 0, textureBytes: 0, arenaBytes: 0, arenaFallbacks: 0 });

export class BufferPool {
  private idle = new Map<number, GPUBuffer[]>();
  private sizes = new Map<GPUBuffer, number>();
  private inUse = new Set<GPUBuffer>();
  private stats: PoolStats = emptyStats();
  /** Most bytes allocated in the current segment of a recording (takeSegmentPeak). */
  private segmentPeak = 0;

  /** Memory planning: buffers are accounted at their real size but created with 256 bytes. */
  dryRun = false;

  /** Stand-in buffers made while planning (Gpu.plan), destroyed when it ends. */
  private planStubs: Set<GPUBuffer> | undefined;
  private planSaved: { peakInUseBytes: number; peakAllocatedBytes: number } | undefined;
  private planDelta = 0;
  private planInUseDelta = 0;

  /** The arena's current buffers, kept between runs. */
  private arenaSet: ArenaSet | undefined;
  /** Earlier sets with placements still live (a run's output held while the next run starts). */
  private retired = new Set<ArenaSet>();
  /** While a run is planned inside Gpu.planned: its trace, and the peak before it. */
  private recording: { trace: ArenaTrace; savedPeak: number } | undefined;
  /** While a planned run runs for real; `replayMissed` once it has left its plan. */
  private replay: { replay: ArenaReplay; set: ArenaSet } | undefined;
  private replayMissed = false;
  /**
   * Recorded arena placements bind nothing (plans record no commands), so each gets a stand-in object
   * for a buffer, not a real one, by which a plan's dispatches name it (plannedActivationId).
   */
  private recordedIds = new WeakMap<object, number>();
  /** Recorded outputs (never released in their run) and the pooled stand-in each got at endRecord. */
  private recordedOutputs = new Map<Block, GPUBuffer>();
  /** The blocks handed out while recording, by allocation id. */
  private recordedBlocks: Block[] = [];

  /**
   * `flush` submits recorded work: a buffer must not be destroyed while unsubmitted commands use it
   * (WebGPU then fails the submit), so the pool flushes before destroying mid-run.
   */
  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number, private readonly flush: () => void = () => {}) {}

  /** True inside a planned run (recorded or replayed): nested planned runs just run. */
  get inArenaRun(): boolean {
    return this.recording !== undefined || this.replay !== undefined;
  }

  /**
   * A tensor's memory. Inside a planned run, activations (not `exact`) are arena placements: recorded
   * while planning, handed out by the replay when running. Otherwise a pooled buffer.
   */
  allocate(bytes: number, label: string, exact = false): Block {
    if (!exact && this.recording) {
      if (bytes > this.maxBufferSize) throw new Error(`${label}: needs a ${bytes}-byte buffer, above the adapter's maxBufferSize ${this.maxBufferSize}`);
      const id = this.recording.trace.acquire(bytes, label);
      const size = this.recording.trace.sizes[id];
      const standIn = { label: `planned activation ${id} (${label})` } as GPUBuffer;
      this.recordedIds.set(standIn, id);
      this.countInUse(size);
      const block = new Block(standIn, 0, size, { trace: this.recording.trace, id });
      this.recordedBlocks[id] = block;
      return block;
    }
    if (!exact && this.replay) {
      const { replay, set } = this.replay;
      const at = replay.next(bytes);
      if (at && at.bin < 0) {
        const buffer = this.acquire(bytes, label); // an output: from the pool (arena.ts)
        return new Block(buffer, 0, this.sizes.get(buffer)!, { id: at.id, replay });
      }
      if (at) {
        set.live++;
        this.countInUse(at.size);
        return new Block(set.buffers[at.bin], at.offset, at.size, { set, id: at.id });
      }
      if (replay.diverged && !this.replayMissed) {
        this.replayMissed = true;
        this.stats.arenaFallbacks++;
      }
    }
    const buffer = this.acquire(bytes, label, exact);
    return new Block(buffer, 0, this.sizes.get(buffer)!);
  }

  /** Returns a block: a pooled buffer goes idle, an arena placement ends (its bytes are the plan's to reuse). */
  free(block: Block): void {
    if (!block.live) throw new Error(`BufferPool.free: ${block.buffer.label} is not in use`);
    block.live = false;
    const a = block.arena;
    if (!a) return this.release(block.buffer);
    if (a.replay) {
      // A run's output, from the pool; released within the run, it leaves the plan.
      if (this.replay?.replay === a.replay) a.replay.release(a.id);
      return this.release(block.buffer);
    }
    if (a.trace) {
      const out = this.recordedOutputs.get(block);
      if (out) {
        this.recordedOutputs.delete(block);
        this.release(out); // its pooled stand-in (endRecord)
      } else this.stats.inUseBytes -= block.size;
      if (a.trace === this.recording?.trace) a.trace.release(a.id);
      return;
    }
    this.stats.inUseBytes -= block.size;
    const set = a.set!;
    set.live--;
    if (this.replay?.set === set) this.replay.replay.release(a.id);
    if (set.retired && set.live === 0) this.destroySet(set);
  }

  /**
   * Frees a pooled block now rather than keeping it idle (a weight replaced by its Winograd form).
   * Recorded work that uses it is submitted first; WebGPU frees the memory once that work has run.
   */
  discard(block: Block): void {
    if (block.arena) return this.free(block);
    if (!block.live || !this.inUse.delete(block.buffer)) throw new Error(`BufferPool.discard: ${block.buffer.label} is not in use`);
    block.live = false;
    const size = this.sizes.get(block.buffer)!;
    this.stats.inUseBytes -= size;
    this.flush();
    this.destroyBuffer(block.buffer);
  }

  // ---- the arena ---------------------------------------------------------------------------------

  /** Starts recording a planned run's activations (inside Gpu.plan, or on a dry-run Gpu). */
  beginRecord(): void {
    if (this.inArenaRun) throw new Error('BufferPool.beginRecord: already in a planned run');
    this.recording = { trace: new ArenaTrace(), savedPeak: this.stats.peakAllocatedBytes };
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
    this.segmentPeak = this.stats.allocatedBytes;
  }

  /**
   * Ends recording: packs the trace into bins of at most maxBufferSize and counts what the arena
   * would then hold, over the run (the bins exist from its start) and after it. On a live device
   * (inside Gpu.plan) that count is undone by endPlan; on a dry-run Gpu the bins are made (as
   * stand-ins) so later runs reuse them as real ones would.
   */
  endRecord(): ArenaLayout {
    const rec = this.recording;
    if (!rec) throw new Error('BufferPool.endRecord without beginRecord');
    this.recording = undefined;
    const layout = packArena(rec.trace, this.maxBufferSize);
    const runPeak = this.stats.peakAllocatedBytes;
    // Outputs come from the pool in a real run: each takes a pooled stand-in now, as it would there.
    rec.trace.ends.forEach((end, id) => {
      if (end !== Infinity) return;
      const block = this.recordedBlocks[id];
      this.stats.inUseBytes -= block.size;
      this.recordedOutputs.set(block, this.acquire(rec.trace.sizes[id], rec.trace.labels[id]));
    });
    this.recordedBlocks = [];
    let delta: number;
    if (this.planStubs) {
      delta = this.arenaDelta(layout);
      this.planAdjustAllocated(delta);
    } else {
      const before = this.stats.allocatedBytes;
      this.prepareArena(layout);
      delta = this.stats.allocatedBytes - before;
    }
    this.stats.peakAllocatedBytes = Math.max(rec.savedPeak, runPeak + delta, this.stats.allocatedBytes);
    return layout;
  }

  /** The allocation id of a recorded placement's stand-in buffer (see recordedIds), else undefined. */
  plannedActivationId(buffer: GPUBuffer): number | undefined {
    return this.recordedIds.get(buffer);
  }

  /** Starts the real run of a planned layout: its bins (reused when large enough and idle). */
  beginReplay(layout: ArenaLayout): void {
    if (this.inArenaRun) throw new Error('BufferPool.beginReplay: already in a planned run');
    const set = this.prepareArena(layout);
    this.replay = { replay: new ArenaReplay(layout), set };
    this.replayMissed = false;
  }

  /** Ends the real run; returns whether it kept to its plan. Blocks it returned stay valid. */
  endReplay(): boolean {
    const r = this.replay;
    if (!r) throw new Error('BufferPool.endReplay without beginReplay');
    this.replay = undefined;
    return !r.replay.diverged;
  }

  /** Whether the current set can hold a layout as it is (idle, and every bin large enough). */
  private reusable(layout: ArenaLayout): boolean {
    const s = this.arenaSet;
    return !!s && s.live === 0 && s.sizes.length >= layout.bins.length && layout.bins.every((b, i) => s.sizes[i] >= b);
  }

  /** What preparing `layout` would add to the allocated bytes. */
  private arenaDelta(layout: ArenaLayout): number {
    if (this.reusable(layout)) return 0;
    const s = this.arenaSet;
    return arenaBytes(layout) - (s && s.live === 0 ? s.sizes.reduce((a, b) => a + b, 0) : 0);
  }

  private prepareArena(layout: ArenaLayout): ArenaSet {
    if (this.reusable(layout)) return this.arenaSet!;
    const old = this.arenaSet;
    if (old) {
      if (old.live === 0) this.destroySet(old);
      else {
        old.retired = true;
        this.retired.add(old);
      }
    }
    const stub = this.dryRun || this.planStubs !== undefined;
    const buffers = layout.bins.map((size, i) => this.device.createBuffer({ size: stub ? 256 : size, usage: STORAGE, label: `activation arena ${i}` }));
    const set: ArenaSet = { buffers, sizes: [...layout.bins], live: 0, retired: false };
    const bytes = arenaBytes(layout);
    this.stats.allocatedBytes += bytes;
    this.stats.arenaBytes += bytes;
    this.stats.buffers += buffers.length;
    this.notePeak();
    this.arenaSet = set;
    return set;
  }

  private destroySet(set: ArenaSet): void {
    this.flush();
    for (const b of set.buffers) b.destroy();
    const bytes = set.sizes.reduce((a, b) => a + b, 0);
    this.stats.allocatedBytes -= bytes;
    this.stats.arenaBytes -= bytes;
    this.stats.buffers -= set.buffers.length;
    if (this.arenaSet === set) this.arenaSet = undefined;
    this.retired.delete(set);
  }

  /** After allocated bytes grew: the peaks (the plan's, and the current segment's: takeSegmentPeak). */
  private notePeak(): void {
    this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    this.segmentPeak = Math.max(this.segmentPeak, this.stats.allocatedBytes);
  }

  /**
   * The most bytes allocated since the last call (or since the recording began), starting a new
   * segment at the bytes allocated now: a plan's allocation profile between the events that Gpu.ahead
   * notes (gpu/ahead.ts), to tell whether work can move to the run's start without raising its peak.
   */
  takeSegmentPeak(): number {
    const peak = Math.max(this.segmentPeak, this.stats.allocatedBytes);
    this.segmentPeak = this.stats.allocatedBytes;
    return peak;
  }

  private countInUse(size: number): void {
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
  }

  // ---- pooled buffers ----------------------------------------------------------------------------

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
      this.notePeak();
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
    this.notePeak();
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
    this.stats.inUseBytes -= this.planInUseDelta;
    this.planDelta = 0;
    this.planInUseDelta = 0;
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
    this.planAdjustAllocated(delta);
    this.planInUseDelta += delta;
    this.stats.inUseBytes += delta;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
  }

  /** planAdjust for bytes held but not in use (arena bins). */
  private planAdjustAllocated(delta: number): void {
    if (!this.planStubs) throw new Error('BufferPool.planAdjust outside a plan');
    this.planDelta += delta;
    this.stats.allocatedBytes += delta;
    this.notePeak();
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined || !this.inUse.delete(buffer)) throw new Error('BufferPool.release: buffer is not in use');
    this.stats.inUseBytes -= size;
    const list = this.idle.get(size) ?? [];
    list.push(buffer);
    this.idle.set(size, list);
  }

  /** An idle buffer of this class, or (unless exact) the smallest idle one of at most twice the size. */
  private takeIdle(size: number, exact: boolean): GPUBuffer | undefined {
    let best = this.idle.get(size)?.length ? size : 0;
    if (!best && !exact) for (const [cls, list] of this.idle) if (list.length && cls > size && cls <= 2 * size && (!best || cls < best)) best = cls;
    if (!best) return undefined;
    return this.idle.get(best)!.pop();
  }

  private destroyBuffer(b: GPUBuffer): void {
    const size = this.sizes.get(b)!;
    this.stats.allocatedBytes -= size;
    this.stats.buffers--;
    this.sizes.delete(b);
    b.destroy();
  }

  /**
   * Destroys idle buffers, and the arena's when none of its placements is live. Between runs: recorded
   * work is submitted first, and WebGPU defers destruction until queued work ends.
   */
  trim(): void {
    if (this.inArenaRun) throw new Error('BufferPool.trim inside a planned run');
    this.flush();
    for (const list of this.idle.values()) for (const b of list) this.destroyBuffer(b);
    this.idle.clear();
    if (this.arenaSet && this.arenaSet.live === 0) this.destroySet(this.arenaSet);
  }

  resetPeak(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
    this.stats.peakAllocatedBytes = this.stats.allocatedBytes;
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }

  destroyAll(): void {
    this.recording = undefined;
    this.replay = undefined;
    this.trim();
    for (const b of this.inUse) b.destroy();
    for (const set of [this.arenaSet, ...this.retired]) for (const b of set?.buffers ?? []) b.destroy();
    this.retired.clear();
    this.recordedOutputs.clear();
    this.recordedBlocks = [];
    this.arenaSet = undefined;
    this.inUse.clear();
    this.sizes.clear();
    this.stats = emptyStats();
  }
}
