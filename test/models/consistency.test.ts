// The tiny consistency decoder from the reference (real module structure, random weights): every
// io case passes (per-step x_t, UNet inputs and outputs, decoded images, OpenAI's clamp variant,
// taps inside the first UNet call), also with a forced small binding limit (then bit-identical).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consistencyRunner } from '../../src/check/consistency_runner.js';
import { runModelCases } from '../../src/check/model_case.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { ConsistencyDecoder, openaiTimestep, timestepsForSteps } from '../../src/models/consistency_decoder.js';
import { expectBandedEqualsUnbanded, FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();
const DIR = join(FIXTURES, 'models/tiny-consistency');

describe('tiny-consistency io cases', () => {
  it('every expected tensor and tap passes at its tolerance', async () => {
    const model = await ConsistencyDecoder.load(gpu(), DIR);
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    const checks = await runModelCases(consistencyRunner(model), 'io', io.metadata, io.tensors);
    model.release();
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    const names = new Set(checks.map((c) => `${c.case}:${c.name}`));
    for (const n of ['consistency:image', 'consistency:x_t_1', 'consistency:unet_output_1', 'consistency_openai:image', 'consistency_1step:image', 'consistency_ns:image', 'encode:latent_mean'])
      expect(names).toContain(n);
    expect(checks.filter((c) => c.kind === 'tap').length).toBeGreaterThanOrEqual(7);
  });

  it('banded (64 KiB binding limit) results equal unbanded ones exactly', async () => {
    const g = gpu();
    const model = await ConsistencyDecoder.load(g, DIR);
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    try {
      await expectBandedEqualsUnbanded(g, consistencyRunner(model), io, 64 * 1024, true);
    } finally {
      model.release();
    }
  });

  it('a seed gives the same image as the reference noise drawn with that seed', async () => {
    const model = await ConsistencyDecoder.load(gpu(), DIR);
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    const seed = JSON.parse(io.metadata.seeds)[''];
    const lat = io.tensors.get('latent')!;
    const { nchwToNhwc } = await import('../../src/gpu/tensor.js');
    const z = gpu().upload(nchwToNhwc(lat.data as Float32Array, lat.shape), [1, 4, 4, 4]);
    const a = model.decode(z, { seed });
    const b = model.decode(z, { noise: [io.tensors.get('noise_0')!.data as Float32Array, io.tensors.get('noise_1')!.data as Float32Array] });
    expect(await a.read()).toEqual(await b.read());
    for (const t of [z, a, b]) t.release();
    model.release();
  });

  it('bad input gets clear errors', async () => {
    const model = await ConsistencyDecoder.load(gpu(), DIR);
    const z = gpu().upload(new Float32Array(48), [1, 4, 4, 3]);
    expect(() => model.decode(z)).toThrow(/must have 4 channels/);
    const z4 = gpu().upload(new Float32Array(64), [1, 4, 4, 4]);
    expect(() => model.decode(z4, { steps: 0 })).toThrow(/steps must be an integer from 1 to 64/);
    expect(() => model.decode(z4, { timesteps: [512, 1008] })).toThrow(/strictly decrease/);
    expect(() => model.decode(z4, { noise: [new Float32Array(10), new Float32Array(10)] })).toThrow(/noise 0 has 10 values, expected \[1,3,32,32\]/);
    expect(() => model.decode(z4, { noise: [new Float32Array(3072)] })).toThrow(/1 noise tensors for 2 steps/);
    for (const t of [z, z4]) t.release();
    model.release();
  });
});

describe('OpenAI timestep schedule', () => {
  it('matches the reference table of rounded timesteps', () => {
    const table = readSafetensors(join(DIR, 'schedule.safetensors')).tensors.get('openai_rounded_timesteps')!.data;
    for (let t = 0; t < 1024; t++) expect(openaiTimestep(t / 1023)).toBe(table[t]);
  });
  it('gives the documented schedules', () => {
    expect(timestepsForSteps(1)).toEqual([1008]);
    expect(timestepsForSteps(2)).toEqual([1008, 512]);
    expect(timestepsForSteps(4)).toEqual([1008, 768, 512, 256]);
  });
});
