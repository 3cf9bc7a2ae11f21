// npm run bench:f16-study
//
// The f16-activation rounding study on both tiny io files (src/check/f16_study.ts): runs every case
// with f16 activations and prints, per output and tap, max|ref|, the max abs error and the
// amplification (error in units of one f16 rounding of max|ref|). test/tolerances.ts takes its f16
// model tolerances from the largest amplification printed here. The tiny VAE's config says
// force_upcast: true, so the study forces f16 on it (its activations stay far below f16's range).

import { join } from 'node:path';
import { consistencyRunner } from '../src/check/consistency_runner.js';
import { scaledErrors } from '../src/check/f16_study.js';
import { runModelCases, type CaseRunner } from '../src/check/model_case.js';
import { vaeRunner } from '../src/check/vae_runner.js';
import { Gpu } from '../src/gpu/gpu.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { AutoencoderKL } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../src/models/consistency_decoder.js';

const MODELS = join(import.meta.dirname, '..', '..', 'test/fixtures/reference/models');

async function study(name: string, runner: CaseRunner, release: () => void): Promise<void> {
  const io = readSafetensors(join(MODELS, name, 'io.safetensors'));
  const checks = await runModelCases(runner, 'io', io.metadata, io.tensors);
  release();
  const rows = scaledErrors(checks, io.metadata, io.tensors);
  console.log(`\n${name} (f16 activations)\n| case | tensor | max abs ref | max abs err | amplification |\n|---|---|---:|---:|---:|`);
  for (const r of rows) console.log(`| ${r.case} | ${r.kind === 'tap' ? 'tap ' : ''}${r.name} | ${r.maxRef.toPrecision(3)} | ${r.maxAbsErr.toExponential(2)} | ${r.amplification.toFixed(2)} |`);
  const worst = rows.reduce((a, b) => (b.amplification > a.amplification ? b : a));
  console.log(`largest amplification: ${worst.amplification.toFixed(2)} (${worst.case} ${worst.name})`);
}

const gpu = await Gpu.create();
const vae = await AutoencoderKL.load(gpu, join(MODELS, 'tiny-vae'));
vae.setActivations('f16', { force: true });
await study('tiny-vae', vaeRunner(vae), () => vae.release());
const cd = await ConsistencyDecoder.load(gpu, join(MODELS, 'tiny-consistency'));
cd.setActivations('f16');
await study('tiny-consistency', consistencyRunner(cd), () => cd.release());
gpu.destroy();
