// The 1x1 conv on the GEMM core (src/kernels/conv1x1.gemm.ts), which conv2d's automatic choice runs
// for 1x1 / stride 1 / pad 0 convs with Cin, Cout multiples of 32 and f32 activations: the reference
// cases it serves (1x1 convs and Linear layers), shapes the fixtures lack against a float64 CPU loop
// and against the direct subgroup kernel, 16-bit weights, and banding (banded == unbanded, exactly).

import { describe, expect, it } from 'vitest';
import { f32, readNchw, uploadNchw, convWeight } from '../../src/check/ops.js';
import { maxAbsDiff } from '../../src/check/compare.js';
import { runKernelCase } from '../../src/check/kernel_case.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { conv2d, Conv2dWeight } from '../../src/kernels/conv2d.js';
import { pointwiseGemmApplies, pointwisePolicy } from '../../src/kernels/conv1x1.gemm.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/io/dtype.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';
import { TOL } from '../tolerances.js';

const gpu = useGpu();

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

/** y[m, co] = b[co] + sum_ci x[m, ci] w[ci, co], in float64. */
function cpuPointwise(x: Float32Array, w: Float32Array, b: Float32Array, m: number, cin: number, cout: number): Float64Array {
  const y = new Float64Array(m * cout);
  for (let r = 0; r < m; r++)
    for (let co = 0; co < cout; co++) {
      let acc = b[co];
      for (let ci = 0; ci < cin; ci++) acc += x[r * cin + ci] * w[ci * cout + co];
      y[r * cout + co] = acc;
    }
  return y;
}

/** Pipeline keys created while `f` runs (the automatic choice is seen in which pipelines it builds). */
async function pipelinesBuilt(g: Gpu, f: () => Promise<void>): Promise<string[]> {
  const keys: string[] = [];
  const prev = g.onShader;
  g.onShader = (key) => keys.push(key);
  try {
    await f();
  } finally {
    g.onShader = prev;
  }
  return keys;
}

describe('conv1x1.gemm: reference cases through the automatic choice', () => {
  const cases = kernelIndex().filter((c) => /^conv2d_k1_/.test(c.case) || c.op === 'linear');
  it('the fixtures hold 1x1 convs and linears the GEMM kernel serves', () => {
    expect(cases.filter((c) => /c32to64|c96to32|64to/.test(c.case)).length).toBeGreaterThanOrEqual(3);
  });
  it('conv2d_k1_c96to32_8x8 runs on the GEMM kernel (first: the pipeline is built here)', async () => {
    const g = gpu();
    const c = kernelIndex().find((k) => k.case === 'conv2d_k1_c96to32_8x8')!;
    const t = loadCase(c.file).tensors;
    const keys = await pipelinesBuilt(g, async () => {
      const x = uploadNchw(g, t, 'input');
      const w = convWeight(g, t, '');
      const y = await readNchw(conv2d(g, x, w));
      expect(maxAbsDiff(y, f32(t, 'expected'))).toBeLessThanOrEqual(c.recommended_atol);
      x.release();
      w.release();
    });
    expect(keys).toContain('conv1x1.gemm.f32');
  });
  for (const c of cases)
    it(c.case, async () => {
      const g = gpu();
      const r = await runKernelCase(g, loadCase(c.file));
      expect(r.maxAbsErr).toBeLessThanOrEqual(c.recommended_atol);
    });
});

describe('conv1x1.gemm: shapes the fixtures lack', () => {
  // [N, H, W, Cin, Cout]: pixel counts that are not multiples of the 32-row tile, tokens (W = 1), batches.
  const shapes: [string, number[]][] = [
    ['batch 2, 7x5, 96 -> 64 (70 pixels)', [2, 7, 5, 96, 64]],
    ['3 tokens, 32 -> 32', [1, 3, 1, 32, 32]],
    ['16x16, 64 -> 160', [1, 16, 16, 64, 160]],
    ['33x1, 256 -> 128', [1, 33, 1, 256, 128]],
  ];
  for (const [name, [n, h, w, cin, cout]] of shapes)
    it(name, async () => {
      const g = gpu();
      const m = n * h * w;
      expect(pointwiseGemmApplies(g, { cin, cout, kh: 1, kw: 1 }, 1, [0, 0, 0, 0], 'f32')).toBe(true);
      const [x, wt, b] = [rand(m * cin, 1), rand(cin * cout, 2), rand(cout, 3)];
      const xt = g.upload(x, [n, h, w, cin]);
      const k = new Conv2dWeight(g.upload(wt, [cin, cout]), g.upload(b, [cout]), cout, cin, 1, 1);
      const gemm = await conv2d(g, xt, k).read();
      const direct = await conv2d(g, xt, k, { variant: 'subgroup' }).read();
      const want = cpuPointwise(x, wt, b, m, cin, cout);
      const tol = TOL.convRandomPerSqrtK * Math.sqrt(cin);
      expect(maxAbsDiff(gemm, want)).toBeLessThanOrEqual(tol);
      expect(maxAbsDiff(direct, want)).toBeLessThanOrEqual(tol);
      xt.release();
      k.release();
    });

  it('f16 and bf16 weights: the same values as f32 weights holding them', async () => {
    const g = gpu();
    const [m, cin, cout] = [45, 64, 96];
    const x = rand(m * cin, 4);
    const xt = g.upload(x, [1, m, 1, cin]);
    const torchW = rand(cout * cin, 5); // [Cout, Cin, 1, 1]
    const b = rand(cout, 6);
    for (const format of ['f16', 'bf16'] as const) {
      const bits = format === 'f16' ? f32ToF16(torchW) : f32ToBf16(torchW);
      const k16 = Conv2dWeight.fromTorch(g, { format, bits }, [cout, cin, 1, 1], b);
      const widened = format === 'f16' ? f16ToF32(bits) : bf16ToF32(bits);
      const k32 = Conv2dWeight.fromTorch(g, widened, [cout, cin, 1, 1], b);
      const y16 = await conv2d(g, xt, k16).read();
      const y32 = await conv2d(g, xt, k32).read();
      expect(y16).toEqual(y32); // same products, same order: the weight format only changes how w is loaded
      k16.release();
      k32.release();
    }
    xt.release();
  });

  it('pointwisePolicy.enabled = false runs the direct kernel; f16 activations and odd channels never take the GEMM', () => {
    const g = gpu();
    const k = { cin: 64, cout: 64, kh: 1, kw: 1 };
    expect(pointwiseGemmApplies(g, k, 1, [0, 0, 0, 0], 'f32')).toBe(true);
    expect(pointwiseGemmApplies(g, k, 1, [0, 0, 0, 0], 'f16')).toBe(false);
    expect(pointwiseGemmApplies(g, { ...k, cin: 48 }, 1, [0, 0, 0, 0], 'f32')).toBe(false);
    expect(pointwiseGemmApplies(g, { ...k, cout: 40 }, 1, [0, 0, 0, 0], 'f32')).toBe(false);
    expect(pointwiseGemmApplies(g, { ...k, kh: 3, kw: 3 }, 1, [1, 1, 1, 1], 'f32')).toBe(false);
    expect(pointwiseGemmApplies(g, k, 2, [0, 0, 0, 0], 'f32')).toBe(false);
    pointwisePolicy.enabled = false;
    try {
      expect(pointwiseGemmApplies(g, k, 1, [0, 0, 0, 0], 'f32')).toBe(false);
    } finally {
      pointwisePolicy.enabled = true;
    }
  });
});

describe('conv1x1.gemm: banded by a 64 KiB binding limit', () => {
  for (const [name, [n, h, w, cin, cout]] of [
    ['40x40, 64 -> 32 (rows of 40 pixels)', [1, 40, 40, 64, 32]],
    ['300 tokens, 64 -> 96 (bands of rows of 1 pixel)', [1, 300, 1, 64, 96]],
  ] as [string, number[]][])
    it(name, async () => {
      const g = gpu();
      const m = n * h * w;
      const [x, wt, b] = [rand(m * cin, 7), rand(cin * cout, 8), rand(cout, 9)];
      const xt = g.upload(x, [n, h, w, cin]);
      const k = new Conv2dWeight(g.upload(wt, [cin, cout]), g.upload(b, [cout]), cout, cin, 1, 1);
      const whole = await conv2d(g, xt, k).read();
      const limit = g.maxBindingBytes;
      g.maxBindingBytes = 64 * 1024;
      try {
        const banded = await conv2d(g, xt, k).read();
        expect(banded).toEqual(whole);
      } finally {
        g.maxBindingBytes = limit;
      }
      expect(maxAbsDiff(whole, cpuPointwise(x, wt, b, m, cin, cout))).toBeLessThanOrEqual(TOL.convRandomPerSqrtK * Math.sqrt(cin));
      xt.release();
      k.release();
    });
});
