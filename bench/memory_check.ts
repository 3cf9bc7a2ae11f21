// node dist/bench/memory_check.js (vae|consistency|baseline) SIZE [F32|F16]
//
// The memory plan against reality: loads the full-size model (manifest shapes, zero weights in the
// given dtype, kept as stored), plans one decode of a SIZExSIZE image with Gpu.plan, then runs it.
// On lavapipe GPU memory is host memory, so the process's peak RSS (`/usr/bin/time -v`, "Maximum
// resident set size") minus a baseline process's (`baseline`: the same Node, Dawn and device, one tiny
// op, no model) is what the run held; docs/benchmarks.md compares it with the printed plan.
// scripts/memory-check.sh runs the three processes and prints the comparison.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import { ParamLoader, type ParamDType } from '../src/models/params.js';

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

const gpu = await Gpu.create();
try {
  if (what === 'baseline') {
    const t = gpu.upload(new Float32Array(1024), [1024]);
    await t.read();
    t.release();
    console.log(JSON.stringify({ what }));
  } else {
    const model =
      what === 'vae'
        ? new AutoencoderKL(gpu, zeros('sd-vae-ft-mse.json').p, parseAutoencoderKLConfig(zeros('sd-vae-ft-mse.json').config, 'manifest'))
        : new ConsistencyDecoder(gpu, zeros('consistency-decoder.json').p, parseConsistencyConfig(zeros('consistency-decoder.json').config, 'manifest'));
    await gpu.sync();
    const z = gpu.upload(new Float32Array((size / 8) ** 2 * 4), [1, size / 8, size / 8, 4], 'latent');
    const run = () => (model instanceof AutoencoderKL ? model.decode(z) : model.decode(z, { seed: 0 }));
    const { peakBytes } = gpu.plan(() => run().release());
    const t0 = performance.now();
    const y = run();
    await y.read();
    y.release();
    const held = gpu.pool.getStats().peakAllocatedBytes;
    console.log(JSON.stringify({ what, size, dtype, plannedMiB: +(peakBytes / MiB).toFixed(0), poolHeldMiB: +(held / MiB).toFixed(0), seconds: +((performance.now() - t0) / 1000).toFixed(1) }));
    z.release();
    model.release();
  }
} finally {
  gpu.destroy();
}
