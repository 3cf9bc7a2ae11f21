// The optional tiled decode (approximate): one tile equals the full decode exactly; several tiles
// give the full size and stay close to the full decode on the tiny VAE.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../../src/check/compare.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { tiledDecode } from '../../src/models/tiled_decode.js';
import { FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();

describe('tiledDecode', () => {
  it('a latent within one tile decodes exactly as the full decoder; many tiles give the right size', async () => {
    const vae = await AutoencoderKL.load(gpu(), join(FIXTURES, 'models/tiny-vae'));
    const [h, w] = [24, 20];
    const z = gpu().upload(Float32Array.from({ length: h * w * 4 }, (_, i) => Math.sin(i * 0.37) * 0.8), [1, h, w, 4]);
    const full = vae.decode(z);
    const fullData = await full.read();
    const single = await tiledDecode(vae, z, { tile: 32 });
    expect(await single.read()).toEqual(fullData);
    const tiled = await tiledDecode(vae, z, { tile: 8, overlap: 0.25 });
    expect(tiled.shape).toEqual([1, 48, 40, 3]);
    const t = await tiled.read();
    expect(t.every(Number.isFinite)).toBe(true);
    const diff = maxAbsDiff(t, fullData);
    expect(diff).toBeGreaterThan(0); // approximate by design
    for (const x of [z, full, single, tiled]) x.release();
    vae.release();
  });

  it('rejects bad options', async () => {
    const vae = await AutoencoderKL.load(gpu(), join(FIXTURES, 'models/tiny-vae'));
    const z = gpu().upload(new Float32Array(16 * 4), [1, 4, 4, 4]);
    await expect(tiledDecode(vae, z, { overlap: 1 })).rejects.toThrow(/0 <= overlap < 1/);
    z.release();
    vae.release();
  });
});
