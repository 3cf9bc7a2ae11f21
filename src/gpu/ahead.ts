// Work a planned run's first real run does ahead, between its plan and its first op.
//
// The first run of a new plan (Gpu.planned) does one-time work later runs do not: it compiles each
// pipeline at its first dispatch, grows the shared textures (kernels/shared_textures.ts), makes the
// cached Winograd U (kernels/winograd.weights.ts) when it reaches their layers, and creates a view for
// each new texture. On lavapipe createComputePipeline, createView and queue.submit wait for the queue
// to finish the work it is running, so every such call mid-run stalled recording, and the GPU then sat
// idle until recording caught up: a process's first SD VAE decode took ~1.4x a steady one
// (docs/benchmarks.md, "Whole process").
//
// The plan walks every op of the run anyway, so it notes that work here, and Gpu.planned does it
// after the plan, before the run's first op, while the queue has nothing else to do:
//
// - pipelines: every dispatch's pipeline, in the variant the real run needs. The variant depends on
//   which bindings share a buffer (gpu.ts, `compiled`); a plan's activations are stand-ins, one per
//   allocation, whose arena bin is known once the plan is packed, so each is resolved to its bin.
// - one-time allocations a kernel announces with Gpu.ahead (a shared texture grown to its final size,
//   a cached U made and its direct weight dropped, the transforms' staging buffer): all of them are
//   done at the start, or, if that could raise the run's planned peak, none (the run does each where
//   it did before). Moving bytes that stay allocated to the run's end earlier raises what is held
//   between the start and that point; the plan's allocation profile, the peak of each segment between
//   two announcements (BufferPool.takeSegmentPeak), says whether any segment would then exceed the
//   peak. (A plan counts the activation arena over the whole run, so this profile is of everything
//   else: weights, textures, scratch.) The plan's peak is therefore the same either way.

/**
 * A one-time allocation the run can make ahead. `act` does it completely (a weight it replaces is
 * freed inside it), so what is held after each act is what the plan counted after its event. (Freeing
 * every replaced weight once after the last act, one submit instead of one per act, held all of them
 * beside their U and raised a tiny VAE's measured peak: test/gpu/arena.test.ts.)
 */
export type AheadAct = () => void;

interface AheadEvent {
  /** The most bytes allocated in the segment before this event. */
  segmentPeak: number;
  /** What doing it ahead adds to every moment before it (made minus freed; >= 0 for these kernels). */
  bytes: number;
  act: AheadAct;
}

/** What a plan noted for its run's first pass: the dispatches' pipelines and the one-time allocations. */
export class PlanAhead {
  /** Each dispatch's pipeline and the buffers it binds, by position (undefined: a texture). */
  readonly dispatches: { pipeline: GPUComputePipeline; buffers: (GPUBuffer | undefined)[] }[] = [];
  private events: AheadEvent[] = [];
  private tailPeak = 0;
  private closed = false;

  noteDispatch(pipeline: GPUComputePipeline, buffers: (GPUBuffer | undefined)[]): void {
    this.dispatches.push({ pipeline, buffers });
  }

  noteEvent(segmentPeak: number, bytes: number, act: AheadAct): void {
    if (this.closed) return; // after the run's recording (its outputs' release): not part of the run
    this.events.push({ segmentPeak, bytes, act });
  }

  /** The end of the run's recording, with the peak of its last segment. */
  close(segmentPeak: number): void {
    this.tailPeak = segmentPeak;
    this.closed = true;
  }

  /** Events noted (for tests and reports). */
  get eventCount(): number {
    return this.events.length;
  }

  /**
   * Whether doing every event at the start keeps the run's peak: segment j then also holds the bytes
   * of every event after it.
   */
  fits(): boolean {
    const segments = [...this.events.map((e) => e.segmentPeak), this.tailPeak];
    const peak = Math.max(...segments);
    let later = 0;
    for (let j = segments.length - 1; j >= 0; j--) {
      if (j < this.events.length) later += this.events[j].bytes;
      if (segments[j] + later > peak) return false;
    }
    return true;
  }

  /** Runs every act, in the order the plan noted them. */
  runActs(): void {
    for (const e of this.events) e.act();
  }
}
