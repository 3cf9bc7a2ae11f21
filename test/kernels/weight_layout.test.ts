// convToGemmLayout (src/kernels/weight_format.ts), the conv weight reorder every model load runs:
// identical to the generic permutation it replaced ([Cout, Cin, kh, kw] -> [kh, kw, Cin, Cout]), for
// each raw format, and a pure reorder (every element kept, none rounded).

import { describe, expect, it } from 'vitest';
import { convToGemmLayout, permuteRaw, type RawWeight } from '../../src/kernels/weight_format.js';

/** The index function conv2d's fill used before: out index i <- PyTorch index. */
const torchIndex = (cout: number, cin: number, kh: number, kw: number) => (i: number) => {
  const co = i % cout;
  const ci = Math.floor(i / cout) % cin;
  const tap = Math.floor(i / (cout * cin));
  return ((co * cin + ci) * kh + Math.floor(tap / kw)) * kw + (tap % kw);
};

describe('convToGemmLayout', () => {
  for (const [cout, cin, kh, kw] of [[3, 5, 3, 3], [7, 4, 1, 1], [2, 3, 5, 5], [1, 1, 3, 3], [32, 16, 3, 3]])
    for (const format of ['f32', 'f16', 'bf16'] as const)
      it(`[${cout}, ${cin}, ${kh}, ${kw}] ${format}`, () => {
        const n = cout * cin * kh * kw;
        const raw: RawWeight = format === 'f32' ? { format, values: Float32Array.from({ length: n }, (_, i) => i + 0.5) } : { format, bits: Uint16Array.from({ length: n }, (_, i) => (i * 7919) & 0xffff) };
        const got = convToGemmLayout(raw, cout, cin, kh, kw);
        const want = permuteRaw(raw, n, torchIndex(cout, cin, kh, kw));
        expect(got).toEqual(want);
        const values = (r: RawWeight) => [...(r.format === 'f32' ? r.values : r.bits)].sort((a, b) => a - b);
        expect(values(got)).toEqual(values(raw));
      });
});
