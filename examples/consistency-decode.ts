// Decode a latent with OpenAI's consistency decoder: the sampler runs its UNet once per step and
// reports each step as it is recorded.
//
//   npm run build
//   node dist/examples/consistency-decode.js [MODEL_DIR] [LATENT.latent.safetensors] [--steps N] [--seed N] [--clamp]
//
// Without a latent file it decodes the reference latent of the tiny test decoder
// (test/fixtures/reference/models/tiny-consistency/io.safetensors) with the seed diffusers used for it,
// and compares the image with diffusers' own: our torch-compatible generator draws the same noise, so
// the difference is float rounding only. With the real decoder (`npx sdvae weights fetch
// consistency-decoder`) and a latent from `npx sdvae encode`:
//
//   node dist/examples/consistency-decode.js weights/consistency-decoder photo.latent.safetensors

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConsistencyDecoder, Gpu, fromTensorData, nchwToNhwc, nhwcToNchw, readLatentFile, readSafetensors, writePng } from '../src/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { steps: { type: 'string' }, seed: { type: 'string' }, clamp: { type: 'boolean', default: false } },
});
const tiny = join(repo, 'test/fixtures/reference/models/tiny-consistency');
const [modelDir = tiny, latentPath] = positionals;

// The latent the decoder takes is UNSCALED (what the encoder gives). Stored latents are scaled by
// 0.18215, so a latent file is divided by its scaling factor first.
let latent: Float32Array; // NCHW [1, 4, h, w]
let shape: [number, number, number, number];
let reference: Float32Array | undefined;
let seed = values.seed === undefined ? undefined : Number(values.seed);
if (latentPath) {
  const stored = readLatentFile(latentPath);
  latent = stored.data.map((v) => v / stored.meta.scalingFactor);
  shape = stored.shape;
} else {
  const io = readSafetensors(join(tiny, 'io.safetensors'));
  const z = io.tensors.get('latent')!;
  latent = Float32Array.from(z.data);
  shape = z.shape as [number, number, number, number];
  reference = Float32Array.from(io.tensors.get('decoded')!.data); // diffusers' 2-step image, NCHW
  seed ??= JSON.parse(io.metadata.seeds)['']; // the torch.Generator seed of that run
}

const gpu = await Gpu.create();
try {
  const cd = await ConsistencyDecoder.load(gpu, modelDir);
  const [n, c, h, w] = shape;
  const z = gpu.upload(nchwToNhwc(latent, shape), [n, h, w, c], 'latent'); // NHWC on the GPU
  const steps = values.steps === undefined ? 2 : Number(values.steps);
  console.log(`latent [${shape}] (NCHW) -> image ${w * cd.downscale}x${h * cd.downscale}, ${steps} steps, seed ${seed ?? 0}${values.clamp ? ', clamp (OpenAI)' : ''}`);

  const t0 = performance.now();
  const y = cd.decode(z, {
    steps,
    seed,
    clamp: values.clamp,
    // Called while the step's GPU work is being recorded; the work runs when the result is read.
    onStep: (i, t, total) => {
      const s = cd.schedule;
      console.log(`  step ${i + 1}/${total}: t=${t}  c_in ${s.cIn[t].toFixed(6)}  c_out ${s.cOut[t].toFixed(6)}  c_skip ${s.cSkip[t].toFixed(6)}`);
    },
  });
  const data = await y.read();
  console.log(`decoded [${y.shape}] (NHWC) in ${(performance.now() - t0).toFixed(0)} ms`);

  if (reference && steps === 2 && !values.clamp) {
    const ours = nhwcToNchw(data, y.shape);
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i] - reference[i]));
    console.log(`max |ours - diffusers| = ${diff.toExponential(2)} (the reference tolerance is 5e-5)`);
  }
  const out = join(tmpdir(), 'sdvae-example-consistency.png');
  writePng(out, fromTensorData(data, y.shape[2], y.shape[1]), { force: true });
  console.log(`wrote ${out}`);

  z.release();
  y.release();
  cd.release();
} finally {
  gpu.destroy();
}
