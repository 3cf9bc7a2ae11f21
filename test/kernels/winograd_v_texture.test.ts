// Winograd's V texture (the GEMM's left operand, shared by every layer: shared_textures.ts) is kept
// per tile size. One texture for both grew to F(2x2)'s rows (4x F(4x4)'s tiles) times F(4x4)'s 36
// layers when a model mixed tile sizes (as the tuner's choices do), more than the two apart.

import { describe, expect, it } from 'vitest';
import { Gpu } from '../../src/gpu/gpu.js';
import { Conv2dWeight, conv2d, type ConvVariant } from '../../src/kernels/conv2d.js';

const values = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));

/** Texture bytes a fresh Gpu holds after running one 3x3 conv with each variant in turn. */
async function textureBytesAfter(variants: ConvVariant[]): Promise<number> {
  const g = await Gpu.create();
  try {
    // 48x48 output pixels: above winogradPolicy.cacheMaxPixels, so U is transient (one shared texture per tile size)
    const x = g.upload(values(48 * 48 * 32), [1, 48, 48, 32]);
    const w = Conv2dWeight.fromTorch(g, values(32 * 32 * 9), [32, 32, 3, 3]);
    const before = g.pool.getStats().textureBytes;
    for (const variant of variants) {
      const y = conv2d(g, x, w, { padding: [1, 1, 1, 1], variant });
      await y.read();
      y.release();
    }
    const bytes = g.pool.getStats().textureBytes - before;
    x.release();
    w.release();
    return bytes;
  } finally {
    g.destroy();
  }
}

describe('Winograd V texture', () => {
  it('F(2x2) and F(4x4) on one Gpu hold what each holds alone, not one texture grown to both', async () => {
    const t2 = await textureBytesAfter(['winograd']);
    const t4 = await textureBytesAfter(['winograd4']);
    expect(t2).toBeGreaterThan(0);
    expect(t4).toBeGreaterThan(0);
    expect(await textureBytesAfter(['winograd', 'winograd4'])).toBe(t2 + t4);
    expect(await textureBytesAfter(['winograd4', 'winograd'])).toBe(t2 + t4);
  });
});
