// node dist/bench/memory_check.js (vae|consistency|baseline) SIZE [F32|F16]
//
// The memory plan against reality: loads the full-size model (manifest shapes, zero weights in the
// given dtype, kept as stored), plans one decode of a SIZExSIZE image with Gpu.plan, then runs it.
// On lavapipe GPU memory is host memory, so the process's peak RSS (`/usr/bin/time -v`, "Maximum
// resident set size") minus a baseline process's (`baseline`: the same Node, Dawn and device, one tiny
// op, no model) is what the run held; docs/benchmarks.md compares it with the printed plan.
// scripts/memory-check.sh runs both processes and prints the comparison. Within the run process, the
// decode's own increment is measured too: peak RSS during the decode (VmHWM, reset just before it)
// minus RSS before it, against the plan's peak minus what the device held before (the weights).

import { readFileSync, writeFileSync } from 'node:fs';
import type { Tensor } from '../src/gpu/tensor.js';
import { join } from 'node:path';
import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import { ParamLoader, type ParamDType } from '../src/models/params.js';
import { procStatusKiB } from './proc_status.js';

const [what = 'vae', sizeArg = '512', dtypeArg = 'F16'] = process.argv.slice(2);
const size = Number(sizeArg);
const dtype = dtypeArg as ParamDType;
const root = join(import.meta.dirname, '..', '..');
const MiB = 2 ** 20;

function zeros(file: string): { p: ParamLoader; config: Record<string, unknown> } {
  const m = JSON.parse(readFileSync(join(root, 'test/fixtures/reference/manifests', file), 'utf8'));
  const shapes = new Map<string, number[]>(m.keys.map((k: { key: string; shape: number[] }) => [k.key, k.shape]));
  const bytes = dtype === 'F32' ? 4 : 2;
  const p = ParamLoader.from((n) => {
    const s = shapes.get(n);
    return s && { shape: s, dtype, bytes: () => new Uint8Array(s.reduce((a, b) => a * b, 1) * bytes) };
  }, shapes.keys(), file);
  return { p, config: m.config };
}

/** A field of /proc/self/status, in KiB; this check means nothing without it. */
function status(field: string): number {
  const kib = procStatusKiB(field);
  if (Number.isNaN(kib)) throw new Error(`/proc/self/status has no ${field} (the memory check needs Linux)`);
  return kib;
}

/** The resident set by kind (KiB): anonymous (heap, driver allocations), file-backed (code), shared. */
function rssParts(): { anon: number; file: number; shmem: number; jsHeap: number; jsExternal: number } {
  // Of the anonymous part, V8's heap and the ArrayBuffers it tracks (KiB).
  const { heapTotal, external } = process.memoryUsage();
  return { anon: status('RssAnon'), file: status('RssFile'), shmem: status('RssShmem'), jsHeap: heapTotal >> 10, jsExternal: external >> 10 };
}

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux: clear_refs 5). */
function resetPeakRss(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}

const gpu = await Gpu.create();
try {
  if (what === 'baseline') {
    const t = gpu.upload(new Float32Array(1024), [1024]);
    await t.read();
    t.release();
    console.log(JSON.stringify({ what, rssParts: rssParts() }));
  } else {
    const model =
      what === 'vae'
        ? new AutoencoderKL(gpu, zeros('sd-vae-ft-mse.json').p, parseAutoencoderKLConfig(zeros('sd-vae-ft-mse.json').config, 'manifest'))
        : new ConsistencyDecoder(gpu, zeros('consistency-decoder.json').p, parseConsistencyConfig(zeros('consistency-decoder.json').config, 'manifest'));
    const rssModel = status('VmRSS');
    await gpu.sync();
    const rssSynced = status('VmRSS');
    (globalThis as { gc?: () => void }).gc?.();
    const rssCollected = status('VmRSS');
    const decode = (z: Tensor) => (model instanceof AutoencoderKL ? model.decode(z) : model.decode(z, { seed: 0 }));
    // A first decode compiles every pipeline (LLVM's memory while compiling is not the run's) and
    // caches what the policy caches; the second, measured one is the steady state a user repeats.
    const z = gpu.upload(new Float32Array((size / 8) ** 2 * 4), [1, size / 8, size / 8, 4], 'latent');
    (globalThis as { gc?: () => void }).gc?.();
    const firstPlan = gpu.plan(() => decode(z).release()); // what the first decode adds to the weights
    const rssLoaded = status('VmRSS');
    const partsLoaded = rssParts();
    resetPeakRss();
    const first = decode(z);
    await first.read();
    first.release();
    const firstPeakRss = status('VmHWM');
    const partsFirst = rssParts();
    const { peakBytes, allocatedBefore } = gpu.plan(() => decode(z).release());
    // The weights' CPU-side bytes (uploaded, then garbage) are collected first: they are host memory
    // the JS heap frees lazily, not GPU memory (run with --expose-gc; scripts/memory-check.sh does).
    (globalThis as { gc?: () => void }).gc?.();
    const rssBefore = status('VmRSS');
    resetPeakRss();
    const t0 = performance.now();
    gpu.pool.resetPeak();
    const y = decode(z);
    await y.read();
    y.release();
    const held = gpu.pool.getStats().peakAllocatedBytes;
    const partsSecond = rssParts();
    const mib = (b: number) => +(b / MiB).toFixed(0);
    console.log(JSON.stringify({
      what, size, dtype, plannedMiB: mib(peakBytes), poolHeldMiB: mib(held), seconds: +((performance.now() - t0) / 1000).toFixed(1),
      // Within this process: what the decode added to the resident set, against what the plan adds
      // to what the device held before it (the weights).
      plannedRunMiB: mib(peakBytes - allocatedBefore), measuredRunMiB: mib((status('VmHWM') - rssBefore) * 1024),
      // The resident set's peak during the measured decode alone (KiB), to set against the baseline:
      // the whole-process peak also holds what loading left behind (the weights' CPU copies until
      // collected, Dawn's upload staging), which is not GPU memory the plan counts.
      decodePeakRssKiB: status('VmHWM'),
      // RSS (KiB) once the model is built (weights uploaded), after the GPU ran the uploads, after a GC.
      loadRssKiB: [rssModel, rssSynced, rssCollected],
      // The resident set by kind after loading, after the first decode and after the second (KiB):
      // lavapipe's device memory is shared memory (RssShmem), the driver's host memory anonymous.
      rssParts: { loaded: partsLoaded, first: partsFirst, second: partsSecond },
      // The first decode (it compiles every pipeline and makes the arena) against its plan's increment.
      firstPlannedRunMiB: mib(firstPlan.peakBytes - firstPlan.allocatedBefore), firstMeasuredRunMiB: mib((firstPeakRss - rssLoaded) * 1024),
    }));
    z.release();
    model.release();
  }
} finally {
  gpu.destroy();
}
