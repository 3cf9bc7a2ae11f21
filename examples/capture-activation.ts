// Look inside a forward pass: run a VAE decode with activation taps and print one module's output
// (its shape and statistics, and a few values), by its diffusers path.
//
//   npm run build
//   node dist/examples/capture-activation.js [VAE_DIR] [MODULE_PATH]
//
// MODULE_PATH defaults to decoder.mid_block. Other paths: post_quant_conv, decoder.conv_in,
// decoder.mid_block.attentions.0, decoder.up_blocks.0.resnets.1, decoder.up_blocks.2, decoder.conv_out
// ... (`npx sdvae inspect --model DIR` lists them all). VAE_DIR defaults to the tiny test VAE.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoencoderKL, Gpu, nhwcToNchw, readPng, resize, toTensorData, type RunContext, type Tensor } from '../src/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const [vaeDir = join(repo, 'test/fixtures/tiny-pair/vae'), path = 'decoder.mid_block'] = process.argv.slice(2);

const gpu = await Gpu.create();
try {
  const vae = await AutoencoderKL.load(gpu, vaeDir);
  const image = resize(readPng(join(repo, 'test/fixtures/images/gt1.png')).image, 64, 64);
  const x = gpu.upload(toTensorData(image), [1, 64, 64, 3], 'image');
  const dist = vae.encode(x);

  // Taps: every module whose path passes tapFilter is copied into `taps` (on the GPU, in the same
  // command stream). Without `taps` in the context nothing is copied.
  const taps = new Map<string, Tensor>();
  const ctx: RunContext = { gpu, taps, tapFilter: (p) => p === path };
  const y = vae.decode(dist.mean, ctx);

  const t = taps.get(path);
  if (!t) throw new Error(`no module output named "${path}" in this decode (try decoder.mid_block or decoder.up_blocks.0)`);
  const data = await t.read(); // NHWC, in the order the GPU stores it
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / data.length;
  let sq = 0;
  for (const v of data) sq += (v - mean) ** 2;
  const [n, h, w, c] = t.shape;
  console.log(`${path}: [${t.shape}] NHWC = [${n}, ${c}, ${h}, ${w}] in PyTorch's NCHW`);
  console.log(`mean ${mean.toFixed(5)}, std ${Math.sqrt(sq / data.length).toFixed(5)}, min ${min.toFixed(5)}, max ${max.toFixed(5)}`);
  // The first values of channel 0 in PyTorch order, to compare with a forward hook in diffusers.
  const nchw = nhwcToNchw(data, t.shape);
  console.log(`[0, 0, 0, :4] = ${Array.from(nchw.subarray(0, 4), (v) => v.toFixed(5)).join(', ')}`);

  for (const tapped of taps.values()) tapped.release(); // taps are the caller's to release
  for (const r of [x, y]) r.release();
  dist.release();
  vae.release();
} finally {
  gpu.destroy();
}
