// The tiny SD VAE from the reference (real diffusers module structure, random weights): every case
// of its io file passes, taps included; also with a forced small binding limit (then bit-identical).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstDivergence, runModelCases, type TensorCheck } from '../../src/check/model_case.js';
import { vaeRunner } from '../../src/check/vae_runner.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { expectBandedEqualsUnbanded, FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();
const DIR = join(FIXTURES, 'models/tiny-vae');

describe('tiny-vae io cases', () => {
  it('every expected tensor and tap passes at its tolerance', async () => {
    const vae = await AutoencoderKL.load(gpu(), DIR);
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    const checks = await runModelCases(vaeRunner(vae), 'io.safetensors', io.metadata, io.tensors);
    vae.release();
    const failed = checks.filter((c) => !c.pass);
    expect(failed).toEqual([]);
    const cases = JSON.parse(io.metadata.cases) as { taps?: object }[];
    const tapCount = cases.reduce((n, c) => n + Object.keys(c.taps ?? {}).length, 0);
    expect(tapCount).toBeGreaterThanOrEqual(13);
    expect(checks.filter((c) => c.kind === 'tap').length).toBe(tapCount);
    expect(new Set(checks.map((c) => c.case))).toEqual(new Set(['encode', 'encode_ns', 'decode', 'decode_ns']));
  });

  it('banded (64 KiB binding limit) results equal unbanded ones exactly', async () => {
    const g = gpu();
    const vae = await AutoencoderKL.load(g, DIR);
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    try {
      await expectBandedEqualsUnbanded(g, vaeRunner(vae), io, 64 * 1024);
    } finally {
      vae.release();
    }
  });

  it('locates the first diverging module when weights are wrong', async () => {
    const vae = await AutoencoderKL.load(gpu(), DIR);
    // Corrupt one weight deep in the decoder: the first failing tap must be the block holding it.
    const w = vae.decoder.up_blocks[1].resnets[0].conv2.weight.w;
    gpu().writeBuffer(w.buffer, 0, new Float32Array(64).fill(1));
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    const checks = await runModelCases(vaeRunner(vae), 'io', io.metadata, io.tensors);
    vae.release();
    const first = firstDivergence(checks).find((c: TensorCheck) => c.case === 'decode');
    expect(first?.name).toBe('decoder.up_blocks.1');
    expect(checks.filter((c) => c.case === 'decode' && c.name === 'decoder.up_blocks.0')[0].pass).toBe(true);
  });
});
