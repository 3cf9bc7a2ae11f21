// Every conv variant reads f16 and bf16 weights (packed two per u32, kernels/weight_format.ts) exactly:
// the result equals, bit for bit, the same variant run on the f32 weight holding the upcast values.
// Shapes cover the scalar and vec4 pipelines (Cin, Cout multiples of 4 or not, odd element counts)
// and both Winograd tile sizes.

import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/io/dtype.js';
import { conv2d, Conv2dWeight, type ConvVariant } from '../../src/kernels/conv2d.js';
import { convertRaw, packWords, weightWgsl } from '../../src/kernels/weight_format.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

const SHAPES: [number, number, number, number, number][] = [
  // [h, w, cin, cout, k]
  [7, 5, 8, 12, 3], // vec4 pipelines
  [6, 9, 3, 5, 3], // scalar pipelines, odd weight count
  [5, 4, 16, 7, 1], // 1x1, odd Cout
];
const VARIANTS: ConvVariant[] = ['tiled', 'subgroup', 'winograd', 'winograd4', 'winograd-shared', 'winograd4-shared'];

describe.each(SHAPES)('conv %ix%i, %i -> %i channels, %ix%i kernel', (h, w, cin, cout, k) => {
  for (const format of ['f16', 'bf16'] as const) {
    const variants = VARIANTS.filter((v) => k === 3 || !v.startsWith('winograd'));
    it.each(variants)(`${format} weights (%s) equal the f32 run of their upcast values, bit for bit`, async (variant) => {
      const g = gpu();
      const values = rand(cout * cin * k * k, 7);
      const bits = format === 'f16' ? f32ToF16(values) : f32ToBf16(values);
      const upcast = format === 'f16' ? f16ToF32(bits) : bf16ToF32(bits);
      const bias = rand(cout, 8);
      const x = g.upload(rand(h * w * cin, 9), [1, h, w, cin]);
      const packed = Conv2dWeight.fromTorch(g, { format, bits }, [cout, cin, k, k], bias);
      const plain = Conv2dWeight.fromTorch(g, upcast, [cout, cin, k, k], bias);
      expect(packed.w.byteLength).toBe(Math.ceil((cout * cin * k * k) / 2) * 4);
      const opts = { padding: [1, 1, 1, 1] as [number, number, number, number], variant };
      const a = await conv2d(g, x, packed, k === 3 ? opts : { variant }).read();
      const b = await conv2d(g, x, plain, k === 3 ? opts : { variant }).read();
      expect(new Uint32Array(a.buffer)).toEqual(new Uint32Array(b.buffer));
      expect(a.some((v) => v !== 0)).toBe(true);
      [x, packed, plain].forEach((t) => t.release());
    });
  }
});

describe('weight formats', () => {
  it('packs 16-bit values two per word, little half first, zero padded', () => {
    const words = packWords({ format: 'f16', bits: new Uint16Array([0x3c00, 0xc000, 0x3800]) });
    expect([...words]).toEqual([0xc0003c00, 0x00003800]);
  });
  it('refuses an f32 weight that overflows f16, naming it', () => {
    expect(() => convertRaw({ format: 'f32', values: new Float32Array([1, 70000]) }, 'f16', 'decoder.conv_in.weight')).toThrow(
      /decoder\.conv_in\.weight: value 70000 at index 1 overflows f16/,
    );
  });
  it('declares the binding each format needs', () => {
    expect(weightWgsl(2, 'wt', 'f32')).toContain('array<f32>');
    expect(weightWgsl(2, 'wt', 'f16')).toContain('unpack2x16float');
    expect(weightWgsl(2, 'wt', 'bf16', true)).toContain('array<vec2u>');
  });
});
