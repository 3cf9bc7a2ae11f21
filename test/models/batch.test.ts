// Batch > 1: each image of a batch decodes exactly as it does alone (per-sample group norm statistics,
// per-image attention), for the SD VAE (encode and decode) and the consistency decoder.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();
const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.9);

describe('batches', () => {
  it('SD VAE: a batch of 2 non-square images equals the two runs alone', async () => {
    const vae = await AutoencoderKL.load(gpu(), join(FIXTURES, 'models/tiny-vae'));
    const [h, w] = [12, 20];
    const a = wave(h * w * 3, 0.3);
    const b = wave(h * w * 3, 0.7);
    const both = new Float32Array([...a, ...b]);
    const run = async (data: Float32Array, n: number) => {
      const x = gpu().upload(data, [n, h, w, 3]);
      const d = vae.encode(x);
      const y = vae.decode(d.mean);
      const out = [await d.mean.read(), await y.read()];
      d.release();
      for (const t of [x, y]) t.release();
      return out;
    };
    const [latBoth, imgBoth] = await run(both, 2);
    const [latA, imgA] = await run(a, 1);
    const [latB, imgB] = await run(b, 1);
    expect(latBoth).toEqual(new Float32Array([...latA, ...latB]));
    expect(imgBoth).toEqual(new Float32Array([...imgA, ...imgB]));
    vae.release();
  });

  it('consistency decoder: a batch of 2 latents equals the two decodes alone (same noise)', async () => {
    const cd = await ConsistencyDecoder.load(gpu(), join(FIXTURES, 'models/tiny-consistency'));
    const [h, w] = [3, 4];
    const za = wave(h * w * 4, 0.5);
    const zb = wave(h * w * 4, 1.1);
    const size = 3 * h * 8 * w * 8;
    const noise = [wave(2 * size, 0.21), wave(2 * size, 0.37)];
    const decode = async (z: Float32Array, n: number, nz: Float32Array[]) => {
      const t = gpu().upload(z, [n, h, w, 4]);
      const y = cd.decode(t, { noise: nz });
      const out = await y.read();
      for (const x of [t, y]) x.release();
      return out;
    };
    const both = await decode(new Float32Array([...za, ...zb]), 2, noise);
    const a = await decode(za, 1, noise.map((x) => x.slice(0, size)));
    const b = await decode(zb, 1, noise.map((x) => x.slice(size)));
    expect(both).toEqual(new Float32Array([...a, ...b]));
    cd.release();
  });
});
