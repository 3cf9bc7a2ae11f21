// io cases for AutoencoderKL: `encode` (image -> latent_mean, latent_logvar, latent_std) and `decode`
// (latent -> image).

import type { Tensor } from '../gpu/tensor.js';
import type { AutoencoderKL } from '../models/autoencoder_kl.js';
import type { RunContext } from '../models/context.js';
import { readCaseTensor, readTaps, uploadCaseTensor, type CaseRunner } from './model_case.js';

export function vaeRunner(vae: AutoencoderKL): CaseRunner {
  const gpu = vae.gpu;
  return {
    runs: ['encode', 'decode'],
    async run(c, inputs, tapPaths) {
      const taps = new Map<string, Tensor>();
      const ctx: RunContext = { gpu, taps: tapPaths.length ? taps : undefined, tapFilter: (p) => tapPaths.includes(p) };
      const outputs = new Map<string, Float32Array>();
      const input = inputs.get(c.run === 'encode' ? 'image' : 'latent');
      if (!input) throw new Error(`case ${c.name}: no "${c.run === 'encode' ? 'image' : 'latent'}" input tensor`);
      const x = uploadCaseTensor(gpu, input, c.run === 'encode' ? 'image' : 'latent');
      try {
        if (c.run === 'encode') {
          const dist = vae.encode(x, ctx);
          outputs.set('latent_mean', await readCaseTensor(dist.mean));
          outputs.set('latent_logvar', await readCaseTensor(dist.logvar));
          outputs.set('latent_std', await readCaseTensor(dist.std));
          dist.release();
        } else {
          const y = vae.decode(x, ctx);
          outputs.set('image', await readCaseTensor(y));
          y.release();
        }
      } finally {
        x.release();
      }
      return { outputs, taps: await readTaps(taps) };
    },
  };
}
