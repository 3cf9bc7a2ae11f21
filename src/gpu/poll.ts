// Waiting for the GPU without a busy loop, in Node.
//
// Dawn's Node binding (npm `webgpu`) resolves its promises (a queue's onSubmittedWorkDone, a buffer's
// mapAsync, an error scope) by polling: while any is pending it calls `globalThis.setImmediate` to tick
// the device again on the next turn of the event loop, which makes waiting a busy loop. Measured on
// lavapipe (2 CPUs, an SD VAE decode of a 1x4x32x32 latent): the main thread spent 2.5 s of CPU in a
// 7.5 s decode, CPU the driver's worker threads then lacked, and allocated ~60 MB of garbage (an
// Immediate and a callback per tick) per second of waiting (docs/benchmarks.md, "Waiting without
// spinning").
//
// While the library itself awaits the GPU (Gpu.sync, Gpu.readBuffer), `waitPolitely` puts in a
// setImmediate that defers by a timer of `intervalMs` instead, so the main thread sleeps between
// ticks (a wait ends at most ~intervalMs after the GPU finished). Anything else that calls
// setImmediate meanwhile is deferred the same way, and clearImmediate cancels such a deferred call;
// the originals are back once no such wait is pending. Browsers have no setImmediate (and wait
// without polling): there, and with intervalMs 0, this only awaits.

type Callback = (...args: unknown[]) => void;
interface Timers {
  setImmediate?: (fn: Callback, ...args: unknown[]) => unknown;
  clearImmediate?: (handle: unknown) => void;
}

const g = globalThis as unknown as Timers;
let pending = 0;
let saved: Required<Timers> | undefined;
/** The replacements put in (restored only while they are still what the globals hold). */
let ours: Required<Timers> | undefined;
/** Timers handed out by the deferred setImmediate (so clearImmediate can tell them from Immediates). */
const deferred = new WeakSet<object>();

function install(intervalMs: number): void {
  if (!g.setImmediate || !g.clearImmediate) return;
  const orig = { setImmediate: g.setImmediate, clearImmediate: g.clearImmediate };
  const later = (fn: Callback, ...args: unknown[]) => {
    const t = setTimeout(fn, intervalMs, ...args);
    deferred.add(t as object);
    return t;
  };
  // Keep what Node hangs on the function (util.promisify's custom form), so code that reads it still works.
  for (const key of Reflect.ownKeys(orig.setImmediate)) {
    if (typeof key === 'symbol') Object.defineProperty(later, key, Object.getOwnPropertyDescriptor(orig.setImmediate, key)!);
  }
  const clear = (handle: unknown) => (handle && deferred.has(handle as object) ? clearTimeout(handle as ReturnType<typeof setTimeout>) : orig.clearImmediate(handle));
  saved = orig;
  ours = { setImmediate: later, clearImmediate: clear };
  g.setImmediate = later;
  g.clearImmediate = clear;
}

function restore(): void {
  if (!saved || !ours) return;
  // Someone who replaced a global meanwhile keeps their replacement.
  if (g.setImmediate === ours.setImmediate) g.setImmediate = saved.setImmediate;
  if (g.clearImmediate === ours.clearImmediate) g.clearImmediate = saved.clearImmediate;
  saved = ours = undefined;
}

/**
 * Awaits `start()` with setImmediate deferred by `intervalMs` (see above); 0 leaves it alone. Waits
 * that overlap share one replacement: the first wait's interval holds until the last one ends.
 */
export async function waitPolitely<T>(intervalMs: number, start: () => Promise<T>): Promise<T> {
  if (intervalMs <= 0) return start();
  if (pending++ === 0) install(intervalMs);
  try {
    return await start();
  } finally {
    if (--pending === 0) restore();
  }
}

/** Whether a wait is deferring setImmediate right now (for tests). */
export const politeWaitActive = (): boolean => saved !== undefined;
