// npm run bench:startup [-- --size 256] [--dir /tmp/sdvae-random-vae] [--fp16] [--cold] [--load-only N]
//
// What a whole `sdvae decode` process costs beyond its steady decode: a full-size SD VAE with random
// weights of the real shapes (bench/random_weights.ts) is written once as a diffusers folder (f32
// safetensors, ~320 MB, or with --fp16 the same values rounded to F16, ~160 MB, as the hub's fp16
// files hold them; kept for later runs) with a stored 1x4x(size/8)x(size/8) latent, then
//   1. the CLI itself: `sdvae decode LATENT --vae DIR -o OUT.png` in a child process, wall time;
//   2. in this process, phase by phase: Gpu.create, AutoencoderKL.load (read + upload, with the first
//      decode prepared meanwhile, as the CLI loads: AutoencoderKL.prepareDecode), the first
//      decode (its recording time includes its one-time work before the first op: cached Winograd U
//      and texture views, ahead.ts; lavapipe compiles each kernel to machine code at its first
//      dispatch, inside the GPU time) and two steady decodes;
// and prints the CLI's time over the steady decode. Each in-process phase also gets its CPU time (all
// of the process's threads: lavapipe's workers run the GPU's work, so CPU time over wall time says how
// many of the machine's CPUs the phase kept busy; with all of them busy, nothing more can overlap).
// --cold disables Mesa's on-disk shader cache
// (MESA_SHADER_CACHE_DISABLE=true, for both) so that every pipeline is compiled from scratch, as on a
// first run; without it, the cache kept by earlier runs makes pipeline creation cheap.
// --load-only N: only AutoencoderKL.load (read + upload + the GPU's weight reorder), N times in this
// process with a fresh Gpu each, printing each time and the median, and the resident set after the
// last load (anonymous host memory vs lavapipe's device memory, RssShmem).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gpu } from '../src/gpu/gpu.js';
import { AutoencoderKL } from '../src/models/autoencoder_kl.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { writeLatentFile } from '../src/io/latents.js';
import { latentSpaceId } from '../src/io/latent_space.js';
import { randomSource } from './random_weights.js';
import { procStatusKiB } from './proc_status.js';
import { f32ToF16 } from '../src/io/dtype.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const size = Number(arg('size') ?? 256);
const fp16 = process.argv.includes('--fp16');
const dir = arg('dir') ?? (fp16 ? '/tmp/sdvae-random-vae-fp16' : '/tmp/sdvae-random-vae');
const cold = process.argv.includes('--cold');
if (cold) process.env.MESA_SHADER_CACHE_DISABLE = 'true';
const root = join(import.meta.dirname, '..', '..');

/** The manifest's names and shapes with bench/random_weights.ts' values, as a diffusers folder. */
function writeRandomVae(): void {
  if (existsSync(join(dir, 'diffusion_pytorch_model.safetensors'))) return;
  mkdirSync(dir, { recursive: true });
  const { source, names, config } = randomSource('sd-vae-ft-mse.json');
  const tensors: Record<string, { dtype: 'F32' | 'F16'; shape: number[]; data: Uint8Array }> = {};
  for (const key of names) {
    const e = source(key)!;
    const bytes = e.bytes() as Uint8Array;
    const data = fp16 ? new Uint8Array(f32ToF16(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)).buffer) : bytes;
    tensors[key] = { dtype: fp16 ? 'F16' : 'F32', shape: [...e.shape], data };
  }
  writeSafetensors(join(dir, 'diffusion_pytorch_model.safetensors'), tensors);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 1));
}

const s = (ms: number) => (ms / 1000).toFixed(2);

/** A field of /proc/self/status in MiB (Linux), or NaN elsewhere. */
const statusMiB = (field: string) => procStatusKiB(field) / 1024;

async function loadOnly(times: number): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const gpu = await Gpu.create();
    const t = performance.now();
    const vae = await AutoencoderKL.load(gpu, dir);
    await gpu.sync();
    ms.push(performance.now() - t);
    const held = gpu.pool.getStats().allocatedBytes / 2 ** 20;
    const [anon, shmem] = [statusMiB('RssAnon'), statusMiB('RssShmem')];
    vae.release();
    gpu.destroy();
    console.log(`load ${i + 1}: ${s(ms[i])} s; pool ${held.toFixed(0)} MiB, RssShmem ${shmem.toFixed(0)} MiB, RssAnon ${anon.toFixed(0)} MiB`);
  }
  const sorted = [...ms].sort((a, b) => a - b);
  console.log(`AutoencoderKL.load of ${dir} (${fp16 ? 'F16' : 'f32'}), ${new Date().toISOString()}: median ${s(sorted[Math.floor(times / 2)])} s of ${times} (${ms.map(s).join(', ')})`);
}

async function main(): Promise<void> {
  writeRandomVae();
  const loads = arg('load-only');
  if (loads !== undefined) return loadOnly(Number(loads));
  const h = size / 8;
  const latentPath = join(dir, `latent-${h}.latent.safetensors`);
  const data = Float32Array.from({ length: 4 * h * h }, (_, i) => Math.sin(i * 0.7) * 4 * 0.18215);
  writeLatentFile(latentPath, { data, shape: [1, 4, h, h], precision: 'fp32', meta: { model: 'AutoencoderKL:random', latentSpace: latentSpaceId(4, 8, 0.18215), scalingFactor: 0.18215 } }, { force: true });
  const out = join(dir, `out-${size}.png`);
  rmSync(out, { force: true });

  const cli = join(root, 'dist/src/cli/main.js');
  let t = performance.now();
  execFileSync(process.execPath, [cli, 'decode', latentPath, '--vae', dir, '-o', out, '--force'], { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
  const cliMs = performance.now() - t;

  const cpuSince = (from: NodeJS.CpuUsage) => {
    const c = process.cpuUsage(from);
    return (c.user + c.system) / 1000;
  };
  t = performance.now();
  const gpu = await Gpu.create();
  const createMs = performance.now() - t;
  t = performance.now();
  const cpu = process.cpuUsage();
  const vae = await AutoencoderKL.load(gpu, dir, {}, (m) => m.prepareDecode([1, h, h, 4])); // as the CLI loads
  await gpu.sync();
  const loadMs = performance.now() - t;
  const loadCpuMs = cpuSince(cpu);
  const z = gpu.upload(data.map((v) => v / 0.18215), [1, h, h, 4]); // NHWC and NCHW agree on this synthetic pattern's statistics; only speed is measured
  const decode = async () => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const y = vae.decode(z);
    const recordMs = performance.now() - t0;
    await gpu.sync();
    const ms = performance.now() - t0;
    const cpuMs = cpuSince(c0);
    y.release();
    return { recordMs, ms, cpuMs };
  };
  const first = await decode();
  const steady = [await decode(), await decode()];
  gpu.destroy();
  const best = steady[0].ms <= steady[1].ms ? steady[0] : steady[1];
  const steadyMs = best.ms;
  console.log(`SD VAE decode 1x4x${h}x${h} -> ${size}x${size}, random ${fp16 ? 'F16' : 'f32'} weights (${dir}); ${new Date().toISOString()}; Mesa shader cache ${cold ? 'disabled (cold)' : 'enabled (warm from earlier runs)'}\n`);
  console.log('| phase | s | CPU s (all threads) |\n|---|---:|---:|');
  console.log(`| \`sdvae decode\` process, wall | ${s(cliMs)} | |`);
  console.log(`| Gpu.create | ${s(createMs)} | |`);
  console.log(`| AutoencoderKL.load (read + upload; the first decode planned and compiled meanwhile, as the CLI does) | ${s(loadMs)} | ${s(loadCpuMs)} |`);
  console.log(`| first decode: recording (its one-time work: cached U, views) | ${s(first.recordMs)} | |`);
  console.log(`| first decode: total | ${s(first.ms)} | ${s(first.cpuMs)} |`);
  console.log(`| steady decode (best of 2; recording ${s(Math.min(...steady.map((d) => d.recordMs)))}) | ${s(steadyMs)} | ${s(best.cpuMs)} |`);
  console.log(`| **process / steady decode** | **${(cliMs / steadyMs).toFixed(2)}x** |`);
}

await main();
