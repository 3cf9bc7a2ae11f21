// Encode one image with an SD VAE and decode its latent again: the round trip every latent diffusion
// model makes. Prints the latent's shape and statistics, the PSNR/SSIM of the result against the input,
// and writes the decoded PNG.
//
//   npm run build
//   node dist/examples/encode-decode.js [VAE_DIR] [IMAGE.png] [OUT.png]
//
// Without arguments it uses the tiny test VAE (test/fixtures/tiny-pair/vae: random decoder weights, so
// the picture comes back as noise; the point is that everything runs) and test/fixtures/images/gt1.png
// resized to 64x64. With the real VAE (`npx sdvae weights fetch sd-v1-5-vae`):
//
//   node dist/examples/encode-decode.js weights/sd-v1-5-vae photo.png roundtrip.png
//
// A reader outside this repository imports the same names from 'sdvae-webgpu'.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoencoderKL, Gpu, fromTensorData, psnr, readPng, resize, ssimRgb, toTensorData, writePng } from '../src/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url)); // dist/examples/ -> the repository
const [vaeDir, imagePath, outPath] = process.argv.slice(2);
const defaults = vaeDir === undefined;

const gpu = await Gpu.create();
try {
  console.log(`adapter: ${gpu.adapterName}`);
  const vae = await AutoencoderKL.load(gpu, vaeDir ?? join(repo, 'test/fixtures/tiny-pair/vae'));
  let { image } = readPng(imagePath ?? join(repo, 'test/fixtures/images/gt1.png'));
  if (defaults) image = resize(image, 64, 64); // Pillow-exact bicubic
  // Both sides must be multiples of vae.downscale (8 for SD); crop or resize otherwise.
  console.log(`image ${image.width}x${image.height}, VAE downscale ${vae.downscale}, scaling factor ${vae.scalingFactor}`);

  // Pixels -> NHWC float32 in [-1, 1] on the GPU.
  const x = gpu.upload(toTensorData(image), [1, image.height, image.width, 3], 'image');
  const t0 = performance.now();
  const dist = vae.encode(x); // mean, logvar, std: [1, H/8, W/8, 4] each, unscaled
  const mean = await dist.mean.read(); // read() submits the recorded work and waits for it
  console.log(`encode: ${(performance.now() - t0).toFixed(0)} ms, latent [${dist.mean.shape}] (NHWC)`);
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of mean) {
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  console.log(`latent mean: average ${(sum / mean.length).toFixed(4)}, min ${min.toFixed(4)}, max ${max.toFixed(4)}`);
  console.log(`stored latents are scaled: × ${vae.scalingFactor} gives what an SD UNet sees`);

  // Decode the mean (diffusers' latent_dist.mode()); decode takes the UNSCALED latent.
  const t1 = performance.now();
  const y = vae.decode(dist.mean); // [1, H, W, 3], roughly in [-1, 1]
  const decoded = fromTensorData(await y.read(), image.width, image.height);
  console.log(`decode: ${(performance.now() - t1).toFixed(0)} ms, image [${y.shape}] (NHWC)`);
  console.log(`PSNR ${psnr(image, decoded).toFixed(2)} dB, SSIM ${ssimRgb(image, decoded).toFixed(4)}${defaults ? ' (random test weights: expect noise)' : ''}`);

  const out = outPath ?? join(tmpdir(), 'sdvae-example-roundtrip.png');
  writePng(out, decoded, { force: true });
  console.log(`wrote ${out}`);

  for (const t of [x, y]) t.release();
  dist.release();
  vae.release();
} finally {
  gpu.destroy(); // a live Dawn device keeps the process from exiting
}
