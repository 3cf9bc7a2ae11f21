// The encoder's latent distribution: mode() is the mean; sample(seed) = mean + std · ε with ε drawn by
// the torch-compatible generator (what diffusers' latent_dist.sample(torch.Generator().manual_seed(s)) gives).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../../src/check/compare.js';
import { nchwToNhwc } from '../../src/gpu/tensor.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { TorchGenerator } from '../../src/models/torch_rng.js';
import { FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();

describe('LatentDistribution', () => {
  it('mode() is the mean and sample(seed) is mean + std · torch.randn(seed)', async () => {
    const vae = await AutoencoderKL.load(gpu(), join(FIXTURES, 'models/tiny-vae'));
    const x = gpu().upload(Float32Array.from({ length: 16 * 24 * 3 }, (_, i) => Math.sin(i * 0.2)), [1, 16, 24, 3]);
    const d = vae.encode(x);
    expect(d.mode()).toBe(d.mean);
    const [mean, std] = [await d.mean.read(), await d.std.read()];
    const s = d.sample(7);
    const eps = nchwToNhwc(new TorchGenerator(7).randn([1, 4, 8, 12]), [1, 4, 8, 12]);
    const expected = mean.map((m, i) => m + std[i] * eps[i]);
    expect(maxAbsDiff(await s.read(), expected)).toBeLessThan(1e-6);
    expect(await s.read()).not.toEqual(mean);
    for (const t of [x, s]) t.release();
    d.release();
    vae.release();
  });
});
