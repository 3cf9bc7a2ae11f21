// io cases for the consistency decoder: `consistency_decode` (latent, timesteps, per-step noise ->
// image, with every intermediate of the sampler) and `encode` (its own VAE encoder, or `encoder` for a
// model without one: OpenAI's decoder.pt, paired with an SD VAE as diffusers does).

import type { Tensor } from '../gpu/tensor.js';
import type { ConsistencyDecoder } from '../models/consistency_decoder.js';
import type { RunContext } from '../models/context.js';
import type { LatentDistribution } from '../models/autoencoder_kl.js';
import { readCaseTensor, readTaps, uploadCaseTensor, type CaseRunner } from './model_case.js';

export function consistencyRunner(model: ConsistencyDecoder, encoder?: { encode(x: Tensor): LatentDistribution }): CaseRunner {
  const gpu = model.gpu;
  const encodeWith = encoder ?? (model.encoder ? model : undefined);
  return {
    runs: encodeWith ? ['encode', 'consistency_decode'] : ['consistency_decode'],
    async run(c, inputs, tapPaths) {
      const outputs = new Map<string, Float32Array>();
      if (c.run === 'encode') {
        const image = inputs.get('image');
        if (!image) throw new Error(`case ${c.name}: no "image" input`);
        const x = uploadCaseTensor(gpu, image, 'image');
        const dist = encodeWith!.encode(x);
        x.release();
        outputs.set('latent_mean', await readCaseTensor(dist.mean));
        outputs.set('latent_logvar', await readCaseTensor(dist.logvar));
        outputs.set('latent_std', await readCaseTensor(dist.std));
        dist.release();
        return { outputs, taps: new Map() };
      }
      const latent = inputs.get('latent');
      const ts = inputs.get('timesteps');
      if (!latent || !ts) throw new Error(`case ${c.name}: needs "latent" and "timesteps" inputs`);
      const noise: Float32Array[] = [];
      for (let i = 0; inputs.has(`noise_${i}`); i++) noise.push(Float32Array.from(inputs.get(`noise_${i}`)!.data));
      // Sampler intermediates are tapped under their expect-names, module outputs under their paths.
      const wanted = new Set([...Object.keys(c.expect), ...tapPaths]);
      const taps = new Map<string, Tensor>();
      const ctx: RunContext = { gpu, taps, tapFilter: (p) => wanted.has(p) };
      const z = uploadCaseTensor(gpu, latent, 'latent');
      const image = model.decode(z, { timesteps: Array.from(ts.data), noise, clamp: c.options?.clamp === true, ctx });
      z.release();
      outputs.set('image', await readCaseTensor(image));
      image.release();
      const read = await readTaps(taps);
      for (const name of Object.keys(c.expect)) {
        const t = read.get(name);
        if (t) outputs.set(name, t);
      }
      const moduleTaps = new Map([...read].filter(([p]) => tapPaths.includes(p)));
      return { outputs, taps: moduleTaps };
    },
  };
}
