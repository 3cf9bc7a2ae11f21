// The tiny TAESD (AutoencoderTiny) from the reference: every expected tensor and tap of its io file
// passes (encode and decode), also banded (bit-identical); `sdvae check --model` runs the same file;
// a wrong weight is located; bad configs are refused by name.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstDivergence, runModelCases } from '../../src/check/model_case.js';
import { taesdRunner } from '../../src/check/taesd_runner.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { AutoencoderTiny, parseAutoencoderTinyConfig } from '../../src/models/autoencoder_tiny.js';
import { expectBandedEqualsUnbanded, FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();
const DIR = join(FIXTURES, 'models/tiny-taesd');

describe('tiny-taesd io cases', () => {
  it('every expected tensor and tap passes at its tolerance', async () => {
    const model = await AutoencoderTiny.load(gpu(), DIR);
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    const checks = await runModelCases(taesdRunner(model), 'io.safetensors', io.metadata, io.tensors);
    model.release();
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(new Set(checks.map((c) => c.case))).toEqual(new Set(['encode', 'decode']));
    // 9 encoder and 13 decoder taps, plus the two outputs.
    expect(checks.filter((c) => c.kind === 'tap').length).toBe(22);
    expect(checks.filter((c) => c.kind === 'expect').map((c) => c.name).sort()).toEqual(['image', 'latents']);
  });

  it('banded (64 KiB binding limit: the 32x48x32 activations, 192 KiB, split into bands) results equal unbanded ones exactly, taps included', async () => {
    const g = gpu();
    const model = await AutoencoderTiny.load(g, DIR);
    try {
      await expectBandedEqualsUnbanded(g, taesdRunner(model), readSafetensors(join(DIR, 'io.safetensors')), 64 * 1024, true);
    } finally {
      model.release();
    }
  });

  it('locates the first diverging module when a weight is wrong', async () => {
    const model = await AutoencoderTiny.load(gpu(), DIR);
    const block = model.decoder.layers[8] as { conv: { weight: { w: { buffer: GPUBuffer } } }[] };
    gpu().writeBuffer(block.conv[2].weight.w.buffer, 0, new Float32Array(64).fill(1));
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    const checks = await runModelCases(taesdRunner(model), 'io', io.metadata, io.tensors);
    model.release();
    expect(checks.filter((c) => c.case === 'encode' && !c.pass)).toEqual([]);
    expect(firstDivergence(checks).find((c) => c.case === 'decode')?.name).toBe('decoder.layers.8');
    expect(checks.find((c) => c.case === 'decode' && c.name === 'decoder.layers.7')?.pass).toBe(true);
  });
});

describe('AutoencoderTiny config', () => {
  it('refuses what it does not implement, naming the field', () => {
    expect(() => parseAutoencoderTinyConfig({ act_fn: 'silu' }, 'c.json')).toThrow(/^c\.json: act_fn silu/);
    expect(() => parseAutoencoderTinyConfig({ upsampling_scaling_factor: 3 }, 'c.json')).toThrow(/upsampling_scaling_factor 3/);
    expect(() => parseAutoencoderTinyConfig({ num_encoder_blocks: [1, 3] }, 'c.json')).toThrow(/num_encoder_blocks has 2 entries/);
    expect(() => parseAutoencoderTinyConfig({ encoder_block_out_channels: [64, 'x'] }, 'c.json')).toThrow(/encoder_block_out_channels must be a list/);
    expect(() => parseAutoencoderTinyConfig({ encoder_block_out_channels: [32, 64, 64, 64] }, 'c.json')).toThrow(/must all be equal/);
  });
});
