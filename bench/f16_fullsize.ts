// npm run bench:f16-fullsize [-- --latent 32]
//
// The error of f16 activations at full size: the real models' shapes with random weights
// (bench/random_weights.ts), one decode with f32 activations and one with f16, compared. No
// reference exists at this size, so the f32 run is the reference (its own error, ~1e-4, is far below
// f16's). Printed: max abs difference, max |f32 output|, and PSNR over the [-1, 1] image range
// (peak-to-peak 2: 10·log10(4 / MSE)). The SD VAE's config says force_upcast: true, so f16 is
// forced for it (the measurement is what tells whether that is safe for these weights).

import { Gpu } from '../src/gpu/gpu.js';
import type { Tensor } from '../src/gpu/tensor.js';
import type { ActivationDType } from '../src/kernels/activation.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../src/models/consistency_decoder.js';
import { randomLoader } from './random_weights.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const side = Number(arg('latent') ?? 32);
const cdSide = Number(arg('cd-latent') ?? 4);

function compare(what: string, a: Float32Array, b: Float32Array): void {
  let maxAbs = 0;
  let maxRef = 0;
  let se = 0;
  let nonFinite = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(b[i])) nonFinite++;
    const d = Math.abs(a[i] - b[i]);
    maxAbs = Math.max(maxAbs, d);
    maxRef = Math.max(maxRef, Math.abs(a[i]));
    se += d * d;
  }
  const psnr = 10 * Math.log10(4 / (se / a.length));
  console.log(`| ${what} | ${maxRef.toPrecision(3)} | ${maxAbs.toExponential(2)} | ${psnr.toFixed(1)} dB | ${nonFinite} |`);
}

async function run(decode: (act: ActivationDType) => Tensor): Promise<Float32Array[]> {
  const outs: Float32Array[] = [];
  for (const act of ['f32', 'f16'] as const) {
    const y = decode(act);
    outs.push(await y.read());
    y.release();
  }
  return outs;
}

const gpu = await Gpu.create();
console.log(`adapter: ${gpu.adapterName}; ${new Date().toISOString()}`);
console.log('\n| decode (random weights of the real shapes) | max abs f32 output | max abs f16 - f32 | PSNR (range 2) | non-finite |\n|---|---:|---:|---:|---:|');
const latent = (s: number) => gpu.upload(Float32Array.from({ length: s * s * 4 }, (_, i) => Math.sin(i * 0.7) * 4), [1, s, s, 4], 'latent');
{
  const { p, config } = randomLoader('sd-vae-ft-mse.json');
  const vae = new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(config, 'manifest'));
  p.finish();
  const z = latent(side);
  const [a, b] = await run((act) => {
    vae.setActivations(act, { force: true });
    return vae.decode(z);
  });
  compare(`SD VAE decode 1x4x${side}x${side} -> ${side * 8}x${side * 8}`, a, b);
  z.release();
  vae.release();
}
{
  const { p, config } = randomLoader('consistency-decoder.json');
  const cd = new ConsistencyDecoder(gpu, p, parseConsistencyConfig(config, 'manifest'));
  p.finish();
  const z = latent(cdSide);
  const [a, b] = await run((act) => {
    cd.setActivations(act);
    return cd.decode(z, { seed: 0 });
  });
  compare(`consistency decode (2 steps) 1x4x${cdSide}x${cdSide} -> ${cdSide * 8}x${cdSide * 8}`, a, b);
  z.release();
  cd.release();
}
gpu.destroy();
