// Where Winograd's U lives (kernels/winograd.weights.ts): cached with the weight or made at every use
// into one shared texture. The choice changes memory, never numbers: a model gives the same bits with
// every U cached and with none; a cached U releases the direct weight it replaced; every U texture is
// counted in the pool's statistics. U stored as rgba16float stays within the reference tolerances
// (the measured errors are printed with WINOGRAD_ERRORS=1 and written in docs/benchmarks.md).

import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runKernelCase } from '../../src/check/kernel_case.js';
import { runModelCases } from '../../src/check/model_case.js';
import { vaeRunner } from '../../src/check/vae_runner.js';
import { consistencyRunner } from '../../src/check/consistency_runner.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { cachedUBytes, winogradPolicy } from '../../src/kernels/winograd.weights.js';
import { Conv2dWeight, conv2d } from '../../src/kernels/conv2d.js';
import { FIXTURES, kernelIndex, loadCase, useGpu } from '../helpers.js';
import { TOL } from '../tolerances.js';
import { f16ToF32, f32ToF16 } from '../../src/io/dtype.js';
import { AT4, BT4, G4 } from '../../src/kernels/winograd4.transforms.js';

const gpu = useGpu();
const saved = { ...winogradPolicy };
afterEach(() => Object.assign(winogradPolicy, saved));

const VAE = join(FIXTURES, 'models/tiny-vae');
const CD = join(FIXTURES, 'models/tiny-consistency');

async function vaeOutputs(): Promise<{ outs: Float32Array[]; vae: AutoencoderKL }> {
  const vae = await AutoencoderKL.load(gpu(), VAE);
  const io = readSafetensors(join(VAE, 'io.safetensors'));
  const outs: Float32Array[] = [];
  const r = vaeRunner(vae);
  await runModelCases({ runs: r.runs, run: async (c, i, t) => { const res = await r.run(c, i, t); outs.push(...res.outputs.values()); return res; } }, 'io', io.metadata, io.tensors);
  return { outs, vae };
}

describe('Winograd U: cached or transient', () => {
  it("every U cached ('all') and none ('none') give the same bits", async () => {
    winogradPolicy.cache = 'all';
    const all = await vaeOutputs();
    const cached = cachedUBytes(gpu());
    all.vae.release();
    expect(cachedUBytes(gpu())).toBe(0); // released with the weights
    winogradPolicy.cache = 'none';
    const none = await vaeOutputs();
    expect(cachedUBytes(gpu())).toBe(0);
    none.vae.release();
    expect(cached).toBeGreaterThan(0);
    expect(none.outs.length).toBe(all.outs.length);
    none.outs.forEach((o, i) => expect(new Uint32Array(o.buffer)).toEqual(new Uint32Array(all.outs[i].buffer)));
  });

  it("'auto' caches U of small layers only, within cacheBytes, and releases the direct weight it replaces", async () => {
    winogradPolicy.cache = 'auto';
    winogradPolicy.cacheMaxPixels = 24 * 16; // the tiny VAE's mid block runs at the latent's 16x16 and 24x16, conv_out at 2x that
    const before = gpu().pool.getStats();
    const { vae } = await vaeOutputs();
    const convs = [vae.decoder.mid_block.resnets[0].conv1, vae.decoder.conv_out];
    const [small, large] = convs.map((c) => c.weight);
    expect(small.winograd).not.toBeNull();
    expect(small.directReleased).toBe(true);
    expect(large.winograd).toBeNull(); // conv_out runs at full resolution: transformed at each use
    expect(large.directReleased).toBe(false);
    const stats = gpu().pool.getStats();
    expect(stats.textureBytes - before.textureBytes).toBeGreaterThanOrEqual(cachedUBytes(gpu()));
    // A direct variant on a weight kept only as U is refused with a clear error.
    const x = gpu().empty([1, 16, 16, small.cin]);
    expect(() => conv2d(gpu(), x, small, { padding: [1, 1, 1, 1], variant: 'tiled' })).toThrow(/kept only in its Winograd form/);
    x.release();
    vae.release();
    winogradPolicy.cacheBytes = 0; // nothing fits: every U is transient
    const { vae: v2 } = await vaeOutputs();
    expect(cachedUBytes(gpu())).toBe(0);
    expect(v2.decoder.mid_block.resnets[0].conv1.weight.winograd).toBeNull();
    v2.release();
  });

  it('a cached U is released with its weight (repeated loads do not grow the texture bytes)', async () => {
    winogradPolicy.cache = 'all';
    const k0 = gpu().pool.getStats().textureBytes;
    for (let i = 0; i < 2; i++) (await vaeOutputs()).vae.release();
    const k = Conv2dWeight.fromTorch(gpu(), new Float32Array(9 * 64), [8, 8, 3, 3]);
    const y = conv2d(gpu(), gpu().empty([1, 4, 4, 8]), k, { padding: [1, 1, 1, 1] });
    y.release();
    k.release();
    // With every U cached no transient texture is made, and every cached one went with its weight.
    expect(gpu().pool.getStats().textureBytes).toBe(k0);
    expect(cachedUBytes(gpu())).toBe(0);
  });
});

/**
 * The rounding study for U in f16: in float64 on the CPU, the F(4x4, 3x3) convolution of a case with U
 * rounded to f16 against the exact direct convolution. Returns the largest absolute difference: what
 * storing U in 16 bits costs by itself (f32 rounding elsewhere is ~1e-6, negligible next to it).
 */
function u16Study(t: Map<string, { shape: number[]; data: Float32Array | Int32Array }>): number {
  const x = t.get('input')!, w = t.get('weight')!;
  const [n, cin, h, wd] = x.shape;
  const cout = w.shape[0];
  const X = x.data as Float32Array, W = w.data as Float32Array;
  const at = (b: number, c: number, i: number, j: number) => (i < 0 || j < 0 || i >= h || j >= wd ? 0 : X[((b * cin + c) * h + i) * wd + j]);
  const mm = (a: number[][], b: number[][]) => a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
  const tr = (a: number[][]) => a[0].map((_, j) => a.map((r) => r[j]));
  const U = new Map<string, number[][]>();
  for (let co = 0; co < cout; co++)
    for (let ci = 0; ci < cin; ci++) {
      const g = [0, 1, 2].map((ky) => [0, 1, 2].map((kx) => W[((co * cin + ci) * 3 + ky) * 3 + kx]));
      const u = mm(mm(G4, g), tr(G4));
      U.set(`${co},${ci}`, u.map((r) => [...f16ToF32(f32ToF16(Float32Array.from(r)))]));
    }
  let worst = 0;
  for (let b = 0; b < n; b++)
    for (let ti = 0; ti < h; ti += 4)
      for (let tj = 0; tj < wd; tj += 4) {
        const V = [...Array(cin).keys()].map((ci) => {
          const d = [...Array(6).keys()].map((i) => [...Array(6).keys()].map((j) => at(b, ci, ti - 1 + i, tj - 1 + j)));
          return mm(mm(BT4, d), tr(BT4));
        });
        for (let co = 0; co < cout; co++) {
          const M = [...Array(6).keys()].map((i) => [...Array(6).keys()].map((j) => V.reduce((s, v, ci) => s + U.get(`${co},${ci}`)![i][j] * v[i][j], 0)));
          const Y = mm(mm(AT4, M), tr(AT4));
          for (let i = 0; i < 4 && ti + i < h; i++)
            for (let j = 0; j < 4 && tj + j < wd; j++) {
              let direct = 0;
              for (let ci = 0; ci < cin; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) direct += at(b, ci, ti + i + ky - 1, tj + j + kx - 1) * W[((co * cin + ci) * 3 + ky) * 3 + kx];
              worst = Math.max(worst, Math.abs(Y[i][j] - direct));
            }
        }
      }
  return worst;
}

describe('Winograd U stored as rgba16float (F(4x4, 3x3)): its error is what f16 rounding of U predicts', () => {
  const pad1 = (c: { params: Record<string, unknown> }) => JSON.stringify(c.params.padding) === '[1,1,1,1]' && JSON.stringify(c.params.kernel) === '[3,3]';
  const cases = kernelIndex().filter((c) => c.op === 'conv2d' && pad1(c));
  for (const c of cases)
    it(c.case, async () => {
      winogradPolicy.u16 = true;
      const file = loadCase(c.file);
      const r = await runKernelCase(gpu(), file);
      const predicted = u16Study(file.tensors);
      if (process.env.WINOGRAD_ERRORS) console.log(`u16 ${c.case}: GPU ${r.maxAbsErr?.toExponential(2)}, float64 study ${predicted.toExponential(2)} (f32 atol ${c.recommended_atol})`);
      expect(r.error).toBeUndefined();
      // Far above the f32 tolerance, so U stays f32 by default (docs/benchmarks.md) ...
      expect(r.maxAbsErr!).toBeGreaterThan(c.recommended_atol);
      // ... and within TOL.u16Study of the study's prediction (the rest is f32 rounding and the case's own error).
      expect(r.maxAbsErr!).toBeLessThanOrEqual(predicted * TOL.u16Study + c.recommended_atol);
    });
});
