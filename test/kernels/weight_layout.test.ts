// The conv weight reorder [Cout, Cin, kh, kw] -> [kh, kw, Cin, Cout]: convToGemmLayout (the CPU form,
// src/kernels/weight_format.ts) is identical to the generic permutation, for each raw format, and a
// pure reorder (every element kept, none rounded); uploadConvWeight (src/kernels/conv_weight_layout.ts),
// the GPU form every model load runs, writes exactly convToGemmLayout's words (through its kernel, or the
// CPU reorder for the 16-bit shapes the kernel leaves out, where an odd count leaves a zero padding half).

import { describe, expect, it } from 'vitest';
import { uploadConvWeight } from '../../src/kernels/conv_weight_layout.js';
import { convToGemmLayout, packWords, permuteRaw, type RawWeight } from '../../src/kernels/weight_format.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();

/** The index function conv2d's fill used before: out index i <- PyTorch index. */
const torchIndex = (cout: number, cin: number, kh: number, kw: number) => (i: number) => {
  const co = i % cout;
  const ci = Math.floor(i / cout) % cin;
  const tap = Math.floor(i / (cout * cin));
  return ((co * cin + ci) * kh + Math.floor(tap / kw)) * kw + (tap % kw);
};

const SHAPES = [[3, 5, 3, 3], [7, 4, 1, 1], [2, 3, 5, 5], [1, 1, 3, 3], [32, 16, 3, 3], [300, 7, 3, 3]];

const rawOf = (format: RawWeight['format'], n: number): RawWeight =>
  format === 'f32' ? { format, values: Float32Array.from({ length: n }, (_, i) => i + 0.5) } : { format, bits: Uint16Array.from({ length: n }, (_, i) => (i * 7919) & 0xffff) };

describe('convToGemmLayout', () => {
  for (const [cout, cin, kh, kw] of SHAPES)
    for (const format of ['f32', 'f16', 'bf16'] as const)
      it(`[${cout}, ${cin}, ${kh}, ${kw}] ${format}`, () => {
        const n = cout * cin * kh * kw;
        const raw = rawOf(format, n);
        const got = convToGemmLayout(raw, cout, cin, kh, kw);
        const want = permuteRaw(raw, n, torchIndex(cout, cin, kh, kw));
        expect(got).toEqual(want);
        const values = (r: RawWeight) => [...(r.format === 'f32' ? r.values : r.bits)].sort((a, b) => a - b);
        expect(values(got)).toEqual(values(raw));
      });
});

describe('uploadConvWeight (on the GPU)', () => {
  for (const [cout, cin, kh, kw] of SHAPES)
    for (const format of ['f32', 'f16', 'bf16'] as const)
      it(`[${cout}, ${cin}, ${kh}, ${kw}] ${format}: convToGemmLayout's words`, async () => {
        const g = gpu();
        const n = cout * cin * kh * kw;
        const raw = rawOf(format, n);
        const dst = g.empty([kh * kw * cin, cout], 'w', format, true);
        // A poisoned destination: every word must be written, the padding half of an odd count as zero.
        g.writeBuffer(dst.buffer, dst.offset, new Uint32Array(dst.byteLength / 4).fill(0xdeadbeef));
        g.opLog = [];
        uploadConvWeight(g, raw, dst, cout, cin, kh, kw);
        // The kernel takes f32 and 16-bit weights with an even Cout; the rest keep the CPU reorder.
        const onGpu = format === 'f32' || cout % 2 === 0;
        expect(g.opLog.filter((o) => o.label.includes('to GEMM layout')).length).toBe(onGpu ? 1 : 0);
        g.opLog = null;
        const got = new Uint32Array((await g.readBuffer(dst.buffer, dst.byteLength, dst.offset)).buffer);
        expect(got).toEqual(packWords(convToGemmLayout(raw, cout, cin, kh, kw)));
        dst.release();
      });

  it('refuses a weight in another format than its tensor, or of another size', () => {
    const g = gpu();
    const dst = g.empty([9 * 2, 3], 'conv.weight', 'f16', true);
    expect(() => uploadConvWeight(g, rawOf('f32', 54), dst, 3, 2, 3, 3)).toThrow(/conv\.weight: a f32 weight for a f16 tensor/);
    expect(() => uploadConvWeight(g, rawOf('f16', 54), dst, 3, 2, 3, 2)).toThrow(/conv\.weight: 54 elements, expected \[3, 2, 3, 2\]/);
    dst.release();
  });
});
