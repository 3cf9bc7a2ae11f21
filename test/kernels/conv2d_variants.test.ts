// Both direct conv2d kernel variants: every conv2d reference case, shapes the fixtures lack (against a CPU
// loop), and banding under a forced 64 KiB binding limit (banded output == unbanded output, exactly).
// The four Winograd variants (F(2x2) / F(4x4) on the subgroup or the shared-memory GEMM core) run every
// 3x3 stride-1 pad-1 conv2d reference case here too, forced by name; their odd shapes and banding are
// in winograd.test.ts and winograd4.test.ts (inputs scaled as PyTorch initialises weights).

import { describe, expect, it } from 'vitest';
import { f32, readNchw, uploadNchw, convWeight } from '../../src/check/ops.js';
import { maxAbsDiff } from '../../src/check/compare.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { conv2d, Conv2dWeight, type ConvVariant } from '../../src/kernels/conv2d.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';

const gpu = useGpu();
const VARIANTS: ConvVariant[] = ['tiled', 'subgroup'];

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

type Pad = [number, number, number, number];

/** NHWC input, GEMM-layout weight [kh, kw, cin, cout]; f64 accumulation. */
function cpuConv(x: Float32Array, [n, h, w, cin]: number[], wt: Float32Array, b: Float32Array, cout: number, k: number, s: number, [pt, pb, pl, pr]: Pad): Float64Array {
  const ho = Math.floor((h + pt + pb - k) / s) + 1;
  const wo = Math.floor((w + pl + pr - k) / s) + 1;
  const y = new Float64Array(n * ho * wo * cout);
  for (let bi = 0; bi < n; bi++)
    for (let oh = 0; oh < ho; oh++)
      for (let ow = 0; ow < wo; ow++)
        for (let co = 0; co < cout; co++) {
          let acc = b[co];
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const [ih, iw] = [oh * s - pt + ky, ow * s - pl + kx];
              if (ih < 0 || iw < 0 || ih >= h || iw >= w) continue;
              for (let ci = 0; ci < cin; ci++) acc += x[((bi * h + ih) * w + iw) * cin + ci] * wt[((ky * k + kx) * cin + ci) * cout + co];
            }
          y[((bi * ho + oh) * wo + ow) * cout + co] = acc;
        }
  return y;
}

/** Random input and weights of one shape, on the GPU and the CPU. */
function problem(g: Gpu, [n, h, w, cin, cout, k]: number[]) {
  const [x, wt, b] = [rand(n * h * w * cin, 1), rand(k * k * cin * cout, 2), rand(cout, 3)];
  const weight = new Conv2dWeight(g.upload(wt, [k * k * cin, cout]), g.upload(b, [cout]), cout, cin, k, k);
  return { x, wt, b, xt: g.upload(x, [n, h, w, cin]), weight };
}

for (const variant of VARIANTS) {
  describe(`conv2d (${variant}) reference cases`, () => {
    for (const c of kernelIndex().filter((c) => c.op === 'conv2d' || c.op === 'downsample2d_conv')) {
      it(c.case, async () => {
        const g = gpu();
        const t = loadCase(c.file).tensors;
        const x = uploadNchw(g, t, 'input');
        const w = convWeight(g, t, '');
        const stride = (c.params.stride as number[] | undefined)?.[0] ?? 1;
        const padding = (c.params.padding as Pad | undefined) ?? [0, 0, 0, 0];
        const y = await readNchw(conv2d(g, x, w, { stride, padding, variant }));
        x.release();
        w.release();
        expect(maxAbsDiff(y, f32(t, 'expected'))).toBeLessThanOrEqual(c.recommended_atol);
      });
    }
  });

  describe(`conv2d (${variant}) shapes the fixtures lack`, () => {
    // [N, H, W, Cin, Cout, k, stride, padding]
    const cases: [string, number[], number, Pad][] = [
      ['1x1 spatial, 3x3 pad 1', [1, 1, 1, 16, 8, 3], 1, [1, 1, 1, 1]],
      ['batch 2, 7 -> 13', [2, 9, 6, 7, 13, 3], 1, [1, 1, 1, 1]],
      ['3 -> 5', [1, 11, 10, 3, 5, 3], 1, [1, 1, 1, 1]],
      ['130 -> 70', [1, 6, 7, 130, 70, 3], 1, [1, 1, 1, 1]],
      ['64 -> 40 (Cin % 32 == 0)', [2, 5, 9, 64, 40, 3], 1, [1, 1, 1, 1]],
      ['stride 2, pad (0, 1, 0, 1)', [1, 12, 9, 32, 24, 3], 2, [0, 1, 0, 1]],
      ['5x5 kernel, pad 2', [1, 8, 11, 12, 20, 5], 1, [2, 2, 2, 2]],
      ['1x1 kernel, odd pixels', [1, 7, 5, 96, 33, 1], 1, [0, 0, 0, 0]],
    ];
    for (const [name, shape, stride, pad] of cases)
      it(name, async () => {
        const g = gpu();
        const pr = problem(g, shape);
        const y = conv2d(g, pr.xt, pr.weight, { stride, padding: pad, variant });
        const want = cpuConv(pr.x, shape.slice(0, 4), pr.wt, pr.b, shape[4], shape[5], stride, pad);
        expect(maxAbsDiff(await y.read(), want)).toBeLessThanOrEqual(2e-5 * Math.sqrt(shape[3] * shape[5] * shape[5]));
        [pr.xt, y].forEach((t) => t.release());
        pr.weight.release();
      });
  });

  describe(`conv2d (${variant}) banded by a 64 KiB binding limit`, () => {
    for (const [name, shape, stride, pad] of [
      ['40x40x32 -> 32, 3x3 pad 1', [1, 40, 40, 32, 32, 3], 1, [1, 1, 1, 1]],
      ['batch 2, 30x20x16 -> 24, stride 2 pad (0,1,0,1)', [2, 30, 20, 16, 24, 3], 2, [0, 1, 0, 1]],
    ] as [string, number[], number, Pad][])
      it(name, async () => {
        const g = gpu();
        const pr = problem(g, shape);
        const whole = await conv2d(g, pr.xt, pr.weight, { stride, padding: pad, variant }).read();
        const limit = g.maxBindingBytes;
        g.maxBindingBytes = 64 * 1024; // 40x40x32 f32 is 200 KiB: several bands
        try {
          const banded = await conv2d(g, pr.xt, pr.weight, { stride, padding: pad, variant }).read();
          expect(banded).toEqual(whole);
        } finally {
          g.maxBindingBytes = limit;
        }
        const want = cpuConv(pr.x, shape.slice(0, 4), pr.wt, pr.b, shape[4], shape[5], stride, pad);
        expect(maxAbsDiff(whole, want)).toBeLessThanOrEqual(1e-4);
        pr.weight.release();
      });
  });
}

const WINOGRAD: ConvVariant[] = ['winograd', 'winograd4', 'winograd-shared', 'winograd4-shared'];
for (const variant of WINOGRAD)
  describe(`conv2d (${variant}) 3x3 pad-1 reference cases`, () => {
    const pad1 = (c: { params: Record<string, unknown> }) => JSON.stringify(c.params.padding) === '[1,1,1,1]' && JSON.stringify(c.params.kernel) === '[3,3]' && ((c.params.stride as number[] | undefined)?.[0] ?? 1) === 1;
    const cases = kernelIndex().filter((c) => c.op === 'conv2d' && pad1(c));
    it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(5));
    for (const c of cases)
      it(c.case, async () => {
        const g = gpu();
        const t = loadCase(c.file).tensors;
        const x = uploadNchw(g, t, 'input');
        const w = convWeight(g, t, '');
        const y = await readNchw(conv2d(g, x, w, { padding: [1, 1, 1, 1], variant }));
        x.release();
        w.release();
        expect(maxAbsDiff(y, f32(t, 'expected'))).toBeLessThanOrEqual(c.recommended_atol);
      });
  });
