// npm run bench:ort [-- --size 256] [--runs 3] [--ort-threads N] [--weights as-stored|f16|f32] [--ort-backend wasm|native]
//
// SD VAE decode side by side in one process: this project on the WebGPU adapter (lavapipe here) and
// ONNX Runtime Web's WASM backend (the CPU path a browser user without WebGPU gets), or with
// --ort-backend native onnxruntime-node's CPU execution provider (the native CPU peer; installed on
// demand, see bench/ort_runtime.ts), on the same
// latent (1x4x(size/8)x(size/8), default 32x32) and the same full-size random weights of the real
// shapes (bench/random_weights.ts; captured while this project's model loads them, then written into
// the ONNX graph bench/onnx builds). One warm-up run each (pipeline compiles, ORT's first-run
// allocations), then `runs` rounds alternating ours / ORT, so load changes on a shared machine hit
// both; medians and their ratio. It also prints max |ours - ORT| on the image, which shows the two ran
// the same model. ORT's threads: --ort-threads (default: the CPU count); it reports the CPU time over
// the wall time of its runs, which is above 1 only if more than one thread really worked.

import { execSync } from 'node:child_process';
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-web';
import { Gpu } from '../src/gpu/gpu.js';
import { nhwcToNchw } from '../src/gpu/tensor.js';
import { maxAbsDiff } from '../src/check/compare.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { autoencoderKLDecoderOnnx } from './onnx/vae_decoder.js';
import { tableWeights } from './onnx/weights.js';
import { parseOrtBenchArgs } from './ort_args.js';
import { ortRuntime } from './ort_runtime.js';
import { randomLoader } from './random_weights.js';

const { size, runs, ortThreads, storage, backend } = parseOrtBenchArgs(process.argv.slice(2), cpus().length);

const { rt, name: ortName, version: ortVersion } = await ortRuntime(backend);
const side = size / 8;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const seconds = (t0: number) => (performance.now() - t0) / 1000;
let mesa = '';
try {
  mesa = execSync('dpkg-query -W mesa-vulkan-drivers', { encoding: 'utf8' }).trim();
} catch {
  /* not Debian */
}

// This project's model; the decoder's weights (and post_quant_conv's) are kept for the ONNX graph.
const gpu = await Gpu.create();
const captured = new Map<string, { shape: readonly number[]; values: Float32Array }>();
const { p, config } = randomLoader('sd-vae-ft-mse.json', storage, (name, shape, values) => {
  if (name.startsWith('decoder.') || name.startsWith('post_quant_conv.')) captured.set(name, { shape, values });
});
const cfg = parseAutoencoderKLConfig(config, 'sd-vae-ft-mse.json');
const vae = new AutoencoderKL(gpu, p, cfg);
p.finish();
await gpu.sync();

let t0 = performance.now();
const model = autoencoderKLDecoderOnnx(cfg, tableWeights(captured, 'random weights'));
captured.clear();
const buildS = seconds(t0);
ort.env.wasm.numThreads = ortThreads;
t0 = performance.now();
const session = await rt.InferenceSession.create(
  model,
  backend === 'wasm'
    ? { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }
    : { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: ortThreads, interOpNumThreads: 1 },
);
const sessionS = seconds(t0);

const latentNchw = Float32Array.from({ length: 4 * side * side }, (_, i) => Math.sin(i * 0.7) * 4);
const latentNhwc = new Float32Array(latentNchw.length);
for (let c = 0; c < 4; c++) for (let i = 0; i < side * side; i++) latentNhwc[i * 4 + c] = latentNchw[c * side * side + i];
const z = gpu.upload(latentNhwc, [1, side, side, 4], 'latent');
const feeds = { latent: new rt.Tensor('float32', latentNchw, [1, 4, side, side]) };

/** One decode on the GPU, waited for; the image (NCHW) when asked. */
async function ours(read = false): Promise<{ s: number; image?: Float32Array }> {
  const t = performance.now();
  const y = vae.decode(z);
  await gpu.sync();
  const s = seconds(t);
  const image = read ? nhwcToNchw(await y.read(), y.shape) : undefined;
  y.release();
  return { s, image };
}

/** One ORT run; its wall time and the process's CPU time meanwhile (the GPU side is idle then). */
async function onnx(): Promise<{ s: number; cpuS: number; image: Float32Array }> {
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  const out = await session.run(feeds);
  const s = seconds(t);
  const cpu = process.cpuUsage(cpu0);
  const image = out.image.data as Float32Array;
  out.image.dispose();
  return { s, cpuS: (cpu.user + cpu.system) / 1e6, image };
}

process.stderr.write(`warm-up: ours\n`);
const first = await ours(true);
process.stderr.write(`warm-up: ORT (${first.s.toFixed(1)} s ours)\n`);
const firstOrt = await onnx();
const diff = maxAbsDiff(first.image!, firstOrt.image);
const oursS: number[] = [];
const ortS: number[] = [];
const cpuRatio: number[] = [];
for (let i = 0; i < runs; i++) {
  oursS.push((await ours()).s);
  const o = await onnx();
  ortS.push(o.s);
  cpuRatio.push(o.cpuS / o.s);
  process.stderr.write(`round ${i + 1}/${runs}: ours ${oursS[i].toFixed(2)} s, ORT ${ortS[i].toFixed(2)} s\n`);
}
z.release();
vae.release();
gpu.destroy();
await session.release();

const load = execSync('cat /proc/loadavg', { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
console.log(`date: ${new Date().toISOString()}; CPUs: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; load average after: ${load}`);
console.log(`ours: ${gpu.adapterName}${mesa ? ` (${mesa})` : ''}, weights ${storage}`);
const ortWhat = backend === 'wasm' ? 'WASM backend (SIMD build: ort-wasm-simd-threaded), numThreads' : 'native CPU execution provider, intraOpNumThreads';
console.log(`ORT: ${ortName} ${ortVersion}, ${ortWhat} ${ortThreads}; opset-17 graph ${(model.length / 2 ** 20).toFixed(0)} MiB built in ${buildS.toFixed(1)} s, session created in ${sessionS.toFixed(1)} s`);
console.log(`ORT CPU time / wall time per run: ${cpuRatio.map((r) => r.toFixed(2)).join(', ')} (above 1 only with more than one busy thread)`);
console.log(`same model: max |ours - ORT| on the image = ${diff.toExponential(2)}`);
console.log(`\n| SD VAE decode 1x4x${side}x${side} -> ${size}x${size} | median s | runs (s) |`);
console.log('|---|---:|---|');
console.log(`| this project (WebGPU, ${gpu.adapterName}) | ${median(oursS).toFixed(2)} | ${oursS.map((t) => t.toFixed(2)).join(', ')} |`);
console.log(`| ${ortName} ${ortVersion} ${backend === 'wasm' ? 'WASM' : 'native CPU'}, ${ortThreads} thread(s) | ${median(ortS).toFixed(2)} | ${ortS.map((t) => t.toFixed(2)).join(', ')} |`);
console.log(`| ratio ours / ORT | ${(median(oursS) / median(ortS)).toFixed(2)} | |`);
