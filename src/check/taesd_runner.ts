// io cases for AutoencoderTiny (TAESD): `encode` (image -> latents, the encoder's output) and
// `decode` (latent -> image), with taps `encoder.layers.N` / `decoder.layers.N`.

import type { Tensor } from '../gpu/tensor.js';
import type { AutoencoderTiny } from '../models/autoencoder_tiny.js';
import type { RunContext } from '../models/context.js';
import { readCaseTensor, readTaps, uploadCaseTensor, type CaseRunner } from './model_case.js';

export function taesdRunner(model: AutoencoderTiny): CaseRunner {
  const gpu = model.gpu;
  return {
    runs: ['encode', 'decode'],
    async run(c, inputs, tapPaths) {
      const role = c.run === 'encode' ? 'image' : 'latent';
      const input = inputs.get(role);
      if (!input) throw new Error(`case ${c.name}: no "${role}" input tensor`);
      const taps = new Map<string, Tensor>();
      const ctx: RunContext = { gpu, taps: tapPaths.length ? taps : undefined, tapFilter: (p) => tapPaths.includes(p) };
      const x = uploadCaseTensor(gpu, input, role);
      const outputs = new Map<string, Float32Array>();
      try {
        const y = c.run === 'encode' ? model.encode(x, ctx) : model.decode(x, ctx);
        outputs.set(c.run === 'encode' ? 'latents' : 'image', await readCaseTensor(y));
        y.release();
      } finally {
        x.release();
      }
      return { outputs, taps: await readTaps(taps) };
    },
  };
}
