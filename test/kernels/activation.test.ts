// The activations AutoencoderTiny (TAESD) needs, against their CPU references
// (src/kernels/activation.reference.ts), on vec4 and scalar sizes and at the extremes; also banded.
import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../../src/check/compare.js';
import { addReluRef, affineRef, reluRef, tanhClampRef } from '../../src/kernels/activation.reference.js';
import { addRelu, affine, relu, tanhClamp } from '../../src/kernels/elementwise.js';
import { TOL } from '../tolerances.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();

function rand(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}
const EXTREMES = Float32Array.from([0, -0, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -2.5, 3, -3, 9, -9, 44, -44, 88.8, -88.8, 1e4, -1e4, 3e38, -3e38]);

describe('TAESD activations', () => {
  for (const n of [4096, 1001])
    it(`relu, add+relu, x*s+t are exact (${n} values)`, async () => {
      const a = rand(n, 1, 5);
      const b = rand(n, 2, 5);
      const at = gpu().upload(a, [n]);
      const bt = gpu().upload(b, [n]);
      const outs = [relu(gpu(), at), addRelu(gpu(), at, bt), affine(gpu(), at, 0.5, 0.5), affine(gpu(), at, 2, -1)];
      const refs = [reluRef(a), addReluRef(a, b), affineRef(a, 0.5, 0.5), affineRef(a, 2, -1)];
      for (const [i, t] of outs.entries()) expect(maxAbsDiff(await t.read(), refs[i])).toBe(TOL.exact);
      // (x + 1) / 2 as torch computes it, rounded once: x*0.5 + 0.5 is the same float.
      expect(affineRef(a, 0.5, 0.5)).toEqual(a.map((v) => Math.fround(v + 1) / 2));
      for (const t of [at, bt, ...outs]) t.release();
    });

  for (const [name, x] of [['random, |x| < 12', rand(4099, 3, 12)], ['extremes', EXTREMES]] as const)
    it(`tanh(x/3)*3: ${name}`, async () => {
      const xt = gpu().upload(x, [x.length]);
      const y = await tanhClamp(gpu(), xt).read();
      expect(maxAbsDiff(y, tanhClampRef(x))).toBeLessThanOrEqual(TOL.tanhClamp);
      expect(y.every((v) => Number.isFinite(v) && Math.abs(v) <= 3)).toBe(true);
      xt.release();
    });

  it('banded (1 KiB binding limit) results equal unbanded ones exactly', async () => {
    const g = gpu();
    const x = rand(5000, 4, 6);
    const xt = g.upload(x, [x.length]);
    const whole = [await tanhClamp(g, xt).read(), await relu(g, xt).read()];
    g.maxBindingBytes = 1024;
    try {
      expect([await tanhClamp(g, xt).read(), await relu(g, xt).read()]).toEqual(whole);
    } finally {
      g.maxBindingBytes = g.device.limits.maxStorageBufferBindingSize;
      xt.release();
    }
  });
});
