// npm run bench:gpu [-- --sizes 256,512,1024] [--runs N] [--peak TFLOPS] [--tune off|cached|full] [--only vae|consistency]
//                      [--activations f32,f16] [--no-check]
//
// One script for a real GPU machine (it runs anywhere WebGPU does; on lavapipe use `--sizes 64` as a
// smoke test). Correctness first: every kernel reference case (src/check/kernel_case.ts, the case's
// own atol) and the tiny models' io files (src/check/model_case.ts); a failure stops the run before
// any timing. Then, per size, with random weights of the real shapes (test/fixtures/reference/
// manifests): SD VAE decode (latent size/8 -> size x size), SD VAE encode, and one consistency UNet
// evaluation at size x size; each a warm-up run and the median of --runs timed runs (wall time, synced).
// TFLOP/s counts the multiply-adds x 2 of every conv and matmul as the ops record them; the peak comes
// from --peak or a small table of vendors' FP32 (non-tensor-core) figures matched on the adapter's
// name. With --tune cached (default) or full the conv variants are the tuner's picks (full measures the
// missing classes after the warm-up run); the table of picks is printed at the end. Activations f32
// and, where the adapter has shader-f16, f16 (model.setActivations; --activations picks); weights f32.
// Output: markdown tables on stdout.

import { measure, type Measured } from './measure.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gpu } from '../src/gpu/gpu.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { runKernelCase } from '../src/check/kernel_case.js';
import { runModelCases } from '../src/check/model_case.js';
import { loadRunner } from '../src/cli/models.js';
import { convPolicy } from '../src/kernels/conv2d.js';
import { cast } from '../src/kernels/activation.js';
import { convShapeKey, lookupConv, missingConvShapes, seenConvShapes, tuning, type TuneMode } from '../src/gpu/tune.js';
import { fileTuneStore } from '../src/io/tune_file.js';
import { tuneConvShapes } from '../src/gpu/tune_measure.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import { f32Entry, ParamLoader } from '../src/models/params.js';

const root = join(import.meta.dirname, '..', '..');
const REF = join(root, 'test/fixtures/reference');
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const sizes = (arg('sizes') ?? '256,512,1024').split(',').map(Number);
const runs = Number(arg('runs') ?? 3);
const only = arg('only');
const mode = (arg('tune') ?? 'cached') as TuneMode;
const activationsArg = arg('activations')?.split(',');
for (const a of activationsArg ?? []) if (a !== 'f32' && a !== 'f16') throw new Error(`--activations: expected f32 and/or f16, got "${a}"`);
if (!['off', 'cached', 'full'].includes(mode)) throw new Error(`--tune: expected off, cached or full, got "${mode}"`);
for (const s of sizes) if (!Number.isInteger(s) || s < 8 || s % 8) throw new Error(`--sizes: ${s} is not a positive multiple of 8`);

/** Vendors' FP32 (non-tensor-core) peaks in TFLOP/s, matched case-insensitively on the adapter name. */
const PEAKS: [RegExp, number][] = [
  [/h200|h100.*sxm|gh100/i, 67], [/h100/i, 51], [/a100/i, 19.5], [/l40s/i, 91.6], [/l4\b/i, 30.3], [/rtx 4090/i, 82.6],
  [/rtx 3090/i, 35.6], [/t4\b|tesla t4/i, 8.1], [/apple m2 max/i, 13.6], [/apple m1\b/i, 2.6],
];

/** Random parameters of a manifest's shapes, scaled so activations stay O(1) (as bench/models.ts). */
function randomModel(file: string): { p: ParamLoader; config: Record<string, unknown> } {
  const m = JSON.parse(readFileSync(join(REF, 'manifests', file), 'utf8'));
  const shapes = new Map<string, number[]>(m.keys.map((k: { key: string; shape: number[] }) => [k.key, k.shape]));
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const p = ParamLoader.from((name) => {
    const shape = shapes.get(name);
    if (!shape) return undefined;
    return f32Entry(shape, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length > 1 ? n / shape[0] : 1;
      return Float32Array.from({ length: n }, () => (/norm.*weight$/.test(name) ? 1 + 0.1 * rand() : name.endsWith('bias') ? 0.1 * rand() : (1.7 * rand()) / Math.sqrt(fanIn)));
    });
  }, shapes.keys(), file);
  return { p, config: m.config };
}

async function correctness(gpu: Gpu): Promise<string[]> {
  const lines: string[] = [];
  const dir = join(REF, 'kernels');
  let pass = 0;
  const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  for (const f of files) {
    const { metadata, tensors } = readSafetensors(join(dir, f));
    const r = await runKernelCase(gpu, { path: join(dir, f), metadata, tensors });
    if (r.pass) pass++;
    else lines.push(`FAIL kernel case ${r.name}: ${r.error ?? `max_abs_err ${r.maxAbsErr} > atol ${r.atol}`}`);
  }
  lines.unshift(`kernel reference cases: ${pass}/${files.length} pass`);
  for (const model of ['tiny-vae', 'tiny-consistency', 'tiny-taesd']) {
    const io = join(REF, 'models', model, 'io.safetensors');
    const runner = await loadRunner(gpu, join(REF, 'models', model));
    const { metadata, tensors } = readSafetensors(io);
    const checks = await runModelCases(runner, io, metadata, tensors);
    const failed = checks.filter((c) => !c.pass);
    lines.push(`${model} io file: ${checks.length - failed.length}/${checks.length} checks pass`);
    for (const c of failed.slice(0, 5)) lines.push(`FAIL ${model} ${c.case} ${c.name}: ${c.error ?? `max_abs_err ${c.maxAbsErr} > atol ${c.atol}`}`);
  }
  return lines;
}

type Row = Measured;

/** A model run timed after a warm-up; with `--tune full`, the classes the warm-up left untuned are tuned first. */
const timed = (gpu: Gpu, what: string, run: () => Tensor): Promise<Row> =>
  measure(gpu, what, run, runs, async () => {
    if (mode === 'full' && missingConvShapes(gpu).length) await tuneConvShapes(gpu, missingConvShapes(gpu), { onRow: (r) => process.stderr.write(`  tuned ${convShapeKey(r.shape)}: ${r.record.variant}\n`) });
  });

const gpu = await Gpu.create();
convPolicy.tune = mode;
if (mode !== 'off') tuning.store = fileTuneStore();
const activations = (activationsArg ?? (gpu.features.f16 ? ['f32', 'f16'] : ['f32'])) as ('f32' | 'f16')[];
const peak = Number(arg('peak') ?? PEAKS.find(([re]) => re.test(gpu.adapterName))?.[1] ?? NaN);
try {
  console.log(`# bench:gpu on ${gpu.adapterName}; ${new Date().toISOString()}`);
  console.log(`features: subgroups ${gpu.features.subgroups ? `${gpu.features.subgroupMinSize}..${gpu.features.subgroupMaxSize}` : 'no'}, shader-f16 ${gpu.features.f16}, timestamps ${gpu.features.timestamps}; tune ${mode}; peak ${Number.isFinite(peak) ? `${peak} TFLOP/s FP32` : 'unknown (--peak TFLOPS)'}\n`);
  if (!process.argv.includes('--no-check')) {
    const lines = await correctness(gpu);
    console.log(lines.map((l) => `- ${l}`).join('\n'));
    if (lines.some((l) => l.startsWith('FAIL'))) {
      console.log('\ncorrectness failed: no benchmarks run');
      process.exitCode = 1;
    }
  }
  if (!process.exitCode) {
    // Each row is printed as soon as it is measured, so a run stopped by a time limit keeps what it measured.
    console.log(`\n| run (f32 weights) | median s | GFLOP | TFLOP/s | % of peak |\n|---|---:|---:|---:|---:|`);
    const rows = {
      push(r: Row) {
        const tflops = r.gflop / r.medianS / 1000;
        console.log(`| ${r.what} | ${r.medianS.toFixed(3)} | ${r.gflop.toFixed(1)} | ${tflops.toFixed(3)} | ${Number.isFinite(peak) ? ((100 * tflops) / peak).toFixed(1) : '-'} |`);
      },
    };
    const rnd = (n: number, f: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * f));
    if (only !== 'consistency') {
      const { p, config } = randomModel('sd-vae-ft-mse.json');
      const vae = new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(config, 'manifest'));
      for (const act of activations)
      for (const s of sizes) {
        vae.setActivations(act, { force: true });
        const z = gpu.upload(rnd((s / 8) ** 2 * 4, 0.7).map((v) => v * 4), [1, s / 8, s / 8, 4], 'latent');
        rows.push(await timed(gpu, `SD VAE decode 1x4x${s / 8}x${s / 8} -> ${s}x${s}, ${act} activations`, () => vae.decode(z)));
        z.release();
        const x = gpu.upload(rnd(s * s * 3, 0.01), [1, s, s, 3], 'image');
        rows.push(await timed(gpu, `SD VAE encode ${s}x${s}, ${act} activations`, () => {
          const d = vae.encode(x);
          d.logvar.release();
          d.std.release();
          return d.mean;
        }));
        x.release();
      }
      vae.release();
    }
    if (only !== 'vae') {
      const { p, config } = randomModel('consistency-decoder.json');
      const cd = new ConsistencyDecoder(gpu, p, parseConsistencyConfig(config, 'manifest'));
      for (const act of activations)
      for (const s of sizes) {
        const u32 = gpu.upload(rnd(s * s * 7, 0.3), [1, s, s, 7], 'unet_input');
        const u = cast(gpu, u32, act); // the UNet runs in its input's dtype (as ConsistencyDecoder.decode casts it)
        rows.push(await timed(gpu, `consistency UNet, one evaluation at ${s}x${s}, ${act} activations`, () => cd.decoder_unet.forward({ gpu }, u, 1008)));
        if (u !== u32) u.release();
        u32.release();
      }
      cd.release();
    }
    if (mode !== 'off') {
      console.log(`\n| conv shape class | tuner's pick | from |\n|---|---|---|`);
      for (const s of seenConvShapes(gpu)) {
        const found = lookupConv(gpu, s);
        console.log(`| ${convShapeKey(s)} | ${found?.record.variant ?? 'rule'} | ${found?.from ?? 'no result: the rule'} |`);
      }
    }
  }
} finally {
  gpu.destroy();
}
