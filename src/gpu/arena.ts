// Planned activation memory: every activation of a run placed at a byte offset inside a few large
// buffers (bins), at offsets worked out before the run from a plan of the same run.
//
// Why: a decode's activations come in many sizes and live for a known stretch of ops. A pool of
// whole buffers reused by size holds up to ~2x the live peak (each size class keeps its own
// buffers), and freeing buffers mid-run does not help (WebGPU frees a destroyed buffer only after
// the submitted work that used it has run, and a decode is recorded long before the GPU gets there).
// A plan (Gpu.plan) replays the run's op sequence without computing anything, so it sees every
// allocation's size and lifetime [acquired, released). Packing those intervals into address space
// is offline dynamic storage allocation; the greedy rule "largest first, lowest offset that does not
// overlap a placed allocation whose lifetime overlaps" lands within a few percent of the live peak
// on these models (bench:memory prints both), and the bins are allocated once and kept between runs.
//
// What a run returns (its outputs: allocations the plan never releases) is not placed: those come from
// the pool, so an output the caller keeps does not pin the arena, and the next run reuses its bins.
//
// The real run must make the same requests in the same order. ArenaReplay checks every acquire
// (its size) and every release (which allocation) against the trace; at the first difference it
// stops placing (later requests fall back to the pool's own buffers). That fallback is safe: up to
// the difference, the live set equals the plan's, so no two live allocations overlap.

/** Placements are multiples of this: WebGPU's largest minStorageBufferOffsetAlignment. */
export const ARENA_ALIGN = 256;

const roundUp = (b: number) => Math.max(ARENA_ALIGN, Math.ceil(b / ARENA_ALIGN) * ARENA_ALIGN);

/** The acquire/release sequence of one planned run. Event e: an allocation id (acquire) or ~id (release). */
export class ArenaTrace {
  readonly sizes: number[] = [];
  readonly starts: number[] = [];
  /** Event index of the release, or Infinity for allocations the run returns (outputs). */
  readonly ends: number[] = [];
  readonly events: number[] = [];
  /** Each allocation's tensor label (for reports: what is live at the peak). */
  readonly labels: string[] = [];

  acquire(bytes: number, label = ''): number {
    const id = this.sizes.length;
    this.labels.push(label);
    this.sizes.push(roundUp(bytes));
    this.starts.push(this.events.length);
    this.ends.push(Infinity);
    this.events.push(id);
    return id;
  }

  release(id: number): void {
    this.ends[id] = this.events.length;
    this.events.push(~id);
  }

  /** The most bytes of placed allocations (not outputs) live at once: no placement can hold less. */
  livePeak(): number {
    return this.peakAt().bytes;
  }

  /** The first event at which placed live bytes peak, the bytes, and the placed allocations live then. */
  peakAt(): { event: number; bytes: number; live: number[] } {
    let live = 0;
    let peak = 0;
    let at = 0;
    const placed = (id: number) => (this.ends[id] === Infinity ? 0 : this.sizes[id]);
    this.events.forEach((e, i) => {
      live += e >= 0 ? placed(e) : -placed(~e);
      if (live > peak) [peak, at] = [live, i];
    });
    const alive = this.sizes.flatMap((_, id) => (this.starts[id] <= at && at < this.ends[id] && this.ends[id] !== Infinity ? [id] : []));
    return { event: at, bytes: peak, live: alive };
  }
}

export interface ArenaLayout {
  /** Bytes of each bin (each <= the cap it was packed with). */
  bins: number[];
  /** Per allocation id: its bin (-1 for outputs, which are not placed) and byte offset in it. */
  bin: Int32Array;
  offset: Float64Array;
  trace: ArenaTrace;
  /** ArenaTrace.livePeak(): the packing's lower bound, for reports. */
  livePeak: number;
}

/**
 * Places every allocation of `trace` in bins of at most `binCap` bytes: largest first (ties: earlier
 * first), each at the lowest offset of the first bin where it overlaps, in address, no placed
 * allocation whose lifetime overlaps its own.
 */
export function packArena(trace: ArenaTrace, binCap: number): ArenaLayout {
  const n = trace.sizes.length;
  const { sizes, starts } = trace;
  const placed = [...Array(n).keys()].filter((id) => trace.ends[id] !== Infinity); // outputs come from the pool
  const order = placed.sort((a, b) => sizes[b] - sizes[a] || starts[a] - starts[b]);
  const bin = new Int32Array(n).fill(-1);
  const offset = new Float64Array(n);
  const placedIn: number[][] = [];
  const bins: number[] = [];
  for (const id of order) {
    const size = sizes[id];
    if (size > binCap) throw new Error(`arena: an allocation of ${size} bytes is above the ${binCap}-byte bin limit (maxBufferSize)`);
    let b = 0;
    for (; b < placedIn.length; b++) {
      const at = lowestFit(placedIn[b], id, trace, offset, binCap);
      if (at >= 0) {
        offset[id] = at;
        break;
      }
    }
    if (b === placedIn.length) {
      placedIn.push([]);
      bins.push(0);
      offset[id] = 0;
    }
    bin[id] = b;
    placedIn[b].push(id);
    bins[b] = Math.max(bins[b], offset[id] + size);
  }
  return { bins, bin, offset, trace, livePeak: trace.livePeak() };
}

/** The lowest offset in a bin where `id` fits beside the placed allocations alive at the same time, or -1. */
function lowestFit(placed: number[], id: number, t: ArenaTrace, offset: Float64Array, cap: number): number {
  const s = t.starts[id];
  const e = t.ends[id];
  const busy = placed.filter((j) => t.starts[j] < e && s < t.ends[j]).sort((a, b) => offset[a] - offset[b]);
  let at = 0;
  for (const j of busy) {
    if (offset[j] - at >= t.sizes[id]) break;
    at = Math.max(at, offset[j] + t.sizes[j]);
  }
  return at + t.sizes[id] <= cap ? at : -1;
}

/** Bytes of all bins of a layout. */
export const arenaBytes = (l: ArenaLayout) => l.bins.reduce((a, b) => a + b, 0);

/**
 * Hands out a layout's placements to a real run, checking that the run makes the trace's requests.
 * `next` returns undefined once the run has left the trace (the caller then uses its own buffers).
 */
export class ArenaReplay {
  private pos = 0;
  diverged = false;

  constructor(readonly layout: ArenaLayout) {}

  /**
   * The placement for the run's next acquire of `bytes` (bin -1: an output, to take from the pool),
   * or undefined if the trace expects another request.
   */
  next(bytes: number): { id: number; bin: number; offset: number; size: number } | undefined {
    if (this.diverged) return undefined;
    const { trace } = this.layout;
    const id = trace.events[this.pos];
    if (id === undefined || id < 0 || trace.sizes[id] !== roundUp(bytes)) {
      this.diverged = true;
      return undefined;
    }
    this.pos++;
    return { id, bin: this.layout.bin[id], offset: this.layout.offset[id], size: trace.sizes[id] };
  }

  /** Records the release of allocation `id`; a release out of the trace's order ends the replay. */
  release(id: number): void {
    if (this.diverged) return;
    if (this.layout.trace.events[this.pos] === ~id) this.pos++;
    else this.diverged = true;
  }
}
