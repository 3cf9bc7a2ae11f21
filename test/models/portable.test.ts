// The portable path end to end: with subgroups turned off (as on adapters without 8-wide subgroups,
// e.g. most real GPUs today), every op runs its portable kernel (tiled conv and GEMM, no Winograd).
// Both tiny models' io files must still pass completely.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consistencyRunner } from '../../src/check/consistency_runner.js';
import { runModelCases } from '../../src/check/model_case.js';
import { vaeRunner } from '../../src/check/vae_runner.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { defaultConvVariant } from '../../src/kernels/conv2d.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu({ useSubgroups: false });

describe('portable kernels only (no subgroups)', () => {
  it('selects the portable conv', () => {
    expect(gpu().features.subgroups).toBe(false);
    expect(defaultConvVariant(gpu())).toBe('tiled');
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
