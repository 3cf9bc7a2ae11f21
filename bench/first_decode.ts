// npm run bench:first-decode [-- --dir /tmp/sdvae-random-vae]
//
// Where a process's first SD VAE decode (1x4x32x32 -> 256x256) waits, against its second: wraps
// queue.submit, GPUTexture.createView and createComputePipeline and prints their count and time in
// each decode, and every call of the first that took over 100 ms. On lavapipe submit and createView
// wait for the queue to finish the chunk it is running, so these times are mostly the GPU's; what
// matters is that the steady decode makes none of these calls (docs/benchmarks.md, "Whole process").
// The model is the random-weight folder `npm run bench:startup` writes (full-size shapes, f32).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL } from '../src/models/autoencoder_kl.js';

const dirAt = process.argv.indexOf('--dir');
const dir = dirAt >= 0 ? process.argv[dirAt + 1] : '/tmp/sdvae-random-vae';
if (!existsSync(join(dir, 'diffusion_pytorch_model.safetensors'))) throw new Error(`${dir}: no random SD VAE here; run npm run bench:startup first (it writes one)`);
const gpu = await Gpu.create();
const vae = await AutoencoderKL.load(gpu, dir);
await gpu.sync();
const waits: { what: string; ms: number }[] = [];
// The WebGPU objects are wrapped as untyped objects (their methods replaced for timing).
const q = gpu.device.queue as any;
const submit = q.submit.bind(q);
q.submit = (b: any) => { const t = performance.now(); submit(b); waits.push({ what: 'submit', ms: performance.now() - t }); };
const tex = gpu.device.createTexture({ size: [1, 1, 1], format: 'rgba32float', usage: GPUTextureUsage.TEXTURE_BINDING });
const proto = Object.getPrototypeOf(tex);
const cv = proto.createView;
proto.createView = function (d: any) { const t = performance.now(); const v = cv.call(this, d); waits.push({ what: `view ${this.label}`, ms: performance.now() - t }); return v; };
const dev = gpu.device as any;
const cp = dev.createComputePipeline.bind(dev);
dev.createComputePipeline = (d: any) => { const t = performance.now(); const p = cp(d); waits.push({ what: `pipeline ${d.label}`, ms: performance.now() - t }); return p; };
const z = gpu.upload(Float32Array.from({ length: 32 * 32 * 4 }, (_, i) => Math.sin(i * 0.7) * 4), [1, 32, 32, 4]);
for (const run of ['first', 'second']) {
  waits.length = 0;
  const t0 = performance.now();
  const y = vae.decode(z);
  const rec = performance.now() - t0;
  await gpu.sync();
  const total = performance.now() - t0;
  y.release();
  const sum = (k: string) => waits.filter((w) => w.what.startsWith(k));
  for (const k of ['submit', 'view', 'pipeline']) { const a = sum(k); console.log(`${run}: ${k} x${a.length} ${a.reduce((s, w) => s + w.ms, 0).toFixed(0)} ms`); }
  console.log(`${run}: recording ${rec.toFixed(0)} ms, total ${total.toFixed(0)} ms`);
  if (run === 'first') for (const w of waits.filter((w) => w.ms > 100)) console.log(`   ${w.what} ${w.ms.toFixed(0)}`);
}
gpu.destroy();
