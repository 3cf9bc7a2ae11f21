// The portable path end to end: with subgroups turned off (as on adapters without 8-wide subgroups,
// e.g. most real GPUs today), every op runs its portable kernel (tiled conv and GEMM, and Winograd on
// the workgroup-memory GEMM core for the 3x3 pad-1 convs). Both tiny models' io files must still
// pass completely; the subgroup Winograd core, forced here, is refused with an error naming why.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consistencyRunner } from '../../src/check/consistency_runner.js';
import { runModelCases } from '../../src/check/model_case.js';
import { vaeRunner } from '../../src/check/vae_runner.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { chooseConvVariant, conv2d, Conv2dWeight, defaultConvVariant } from '../../src/kernels/conv2d.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu({ useSubgroups: false });

describe('portable kernels only (no subgroups)', () => {
  it('selects the portable conv', () => {
    expect(gpu().features.subgroups).toBe(false);
    expect(defaultConvVariant(gpu())).toBe('tiled');
    const k = { kh: 3, kw: 3 } as unknown as Conv2dWeight;
    expect(chooseConvVariant(gpu(), k, 1, [1, 1, 1, 1])).toBe('winograd4-shared');
  });

  it('refuses the subgroup Winograd core, naming the adapter\'s subgroups', () => {
    const g = gpu();
    const x = g.upload(new Float32Array(4 * 4 * 8), [1, 4, 4, 8]);
    const w = Conv2dWeight.fromTorch(g, new Float32Array(8 * 8 * 9), [8, 8, 3, 3]);
    try {
      expect(() => conv2d(g, x, w, { padding: [1, 1, 1, 1], variant: 'winograd4' })).toThrow(/winograd GEMM needs subgroups of exactly 8 lanes \(adapter: no subgroups\)/);
      expect(() => conv2d(g, x, w, { padding: [1, 1, 1, 1], variant: 'subgroup' })).toThrow(/conv2d.subgroup needs subgroups of exactly 8 lanes \(adapter: no subgroups\)/);
    } finally {
      x.release();
      w.release();
    }
  });

  it('tiny-vae io passes', async () => {
    const dir = join(FIXTURES, 'models/tiny-vae');
    const vae = await AutoencoderKL.load(gpu(), dir);
    const io = readSafetensors(join(dir, 'io.safetensors'));
    const checks = await runModelCases(vaeRunner(vae), 'io', io.metadata, io.tensors);
    vae.release();
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(checks.length).toBeGreaterThan(20);
  });

  it('tiny-consistency io passes', async () => {
    const dir = join(FIXTURES, 'models/tiny-consistency');
    const model = await ConsistencyDecoder.load(gpu(), dir);
    const io = readSafetensors(join(dir, 'io.safetensors'));
    const checks = await runModelCases(consistencyRunner(model), 'io', io.metadata, io.tensors);
    model.release();
    expect(checks.filter((c) => !c.pass)).toEqual([]);
  });
});
