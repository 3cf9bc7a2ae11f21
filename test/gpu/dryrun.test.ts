// Memory planning: a dry run plans every op (shapes, bands, pooled buffers) without dispatching, and
// its peak must equal the peak of a real run exactly.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Gpu } from '../../src/gpu/gpu.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { FIXTURES } from '../helpers.js';

const gpus: Gpu[] = [];
afterAll(() => gpus.forEach((g) => g.destroy()));

async function peakOf(dryRun: boolean, run: (gpu: Gpu) => Promise<void>): Promise<number> {
  const gpu = await Gpu.create({ dryRun });
  gpus.push(gpu);
  await run(gpu);
  return gpu.pool.getStats().peakInUseBytes;
}

describe('dry run', () => {
  it('plans the same peak memory as a real VAE encode + decode', async () => {
    const run = async (gpu: Gpu) => {
      const vae = await AutoencoderKL.load(gpu, join(FIXTURES, 'models/tiny-vae'));
      const x = gpu.upload(new Float32Array(48 * 32 * 3).fill(0.5), [1, 48, 32, 3]);
      const d = vae.encode(x);
      const y = vae.decode(d.mean);
      expect((await y.read()).length).toBe(48 * 32 * 3);
      for (const t of [x, y]) t.release();
      d.release();
    };
    const real = await peakOf(false, run);
    expect(await peakOf(true, run)).toBe(real);
    expect(real).toBeGreaterThan(0);
  });

  it('plans the same peak memory as a real consistency decode', async () => {
    const run = async (gpu: Gpu) => {
      const cd = await ConsistencyDecoder.load(gpu, join(FIXTURES, 'models/tiny-consistency'));
      const z = gpu.upload(new Float32Array(4 * 5 * 4).fill(0.1), [1, 4, 5, 4]);
      const y = cd.decode(z, { seed: 1 });
      await y.read();
      for (const t of [z, y]) t.release();
    };
    const real = await peakOf(false, run);
    expect(await peakOf(true, run)).toBe(real);
  });
});
