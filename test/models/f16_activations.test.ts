// Both tiny io files with f16 activations (models/activations.ts), at the tolerance of the f16
// rounding study (src/check/f16_study.ts, test/tolerances.ts f16Model): every output and tap within
// f16Model · 2^-11 · max|reference|. Also: banded == unbanded bit for bit in f16, the refusals
// (no shader-f16; force_upcast: true unless forced), and that outputs stay f32.
//
// The tiny VAE's config says force_upcast: true (written by diffusers' default config, not because
// this model overflows: its activations stay below 10), so its f16 runs pass { force: true }: that is
// the only way to exercise f16 on it, and the refusal without it is tested too.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consistencyRunner } from '../../src/check/consistency_runner.js';
import { F16_UNIT, scaledErrors } from '../../src/check/f16_study.js';
import { runModelCases, type CaseRunner } from '../../src/check/model_case.js';
import { vaeRunner } from '../../src/check/vae_runner.js';
import { Gpu } from '../../src/gpu/gpu.js';
import { requestAdapter } from '../../src/gpu/node.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { convPolicy } from '../../src/kernels/conv2d.js';
import { expectBandedEqualsUnbanded, FIXTURES, useGpu } from '../helpers.js';
import { TOL } from '../tolerances.js';

const gpu = useGpu();
const VAE = join(FIXTURES, 'models/tiny-vae');
const CD = join(FIXTURES, 'models/tiny-consistency');

function peakOf(dry: Gpu, vae: AutoencoderKL, act: 'f32' | 'f16'): void {
  vae.setActivations(act, { force: true });
  const z = dry.empty([1, 16, 16, 4], 'latent');
  vae.decode(z).release();
  z.release();
}

async function expectWithinF16Study(runner: CaseRunner, dir: string): Promise<void> {
  const io = readSafetensors(join(dir, 'io.safetensors'));
  const checks = await runModelCases(runner, 'io', io.metadata, io.tensors);
  expect(checks.filter((c) => c.error)).toEqual([]);
  const rows = scaledErrors(checks, io.metadata, io.tensors);
  const over = rows.filter((r) => r.maxAbsErr > TOL.f16Model * F16_UNIT * r.maxRef);
  expect(over).toEqual([]);
  // Not vacuous: the run really stored f16 (its error is far above the f32 tolerances somewhere).
  expect(Math.max(...rows.map((r) => r.amplification))).toBeGreaterThan(1);
}

describe('f16 activations: tiny io files at the f16 study tolerance', () => {
  it('tiny-vae (forced: its config says force_upcast: true)', async () => {
    const vae = await AutoencoderKL.load(gpu(), VAE);
    try {
      vae.setActivations('f16', { force: true });
      expect(vae.activations).toBe('f16');
      await expectWithinF16Study(vaeRunner(vae), VAE);
    } finally {
      vae.release();
    }
  });

  it('tiny-consistency', async () => {
    const model = await ConsistencyDecoder.load(gpu(), CD);
    try {
      model.setActivations('f16');
      await expectWithinF16Study(consistencyRunner(model), CD);
    } finally {
      model.release();
    }
  });

  it('banded (64 KiB binding limit) equals unbanded bit for bit, both models', async () => {
    const g = gpu();
    const vae = await AutoencoderKL.load(g, VAE);
    const model = await ConsistencyDecoder.load(g, CD);
    try {
      vae.setActivations('f16', { force: true });
      model.setActivations('f16');
      await expectBandedEqualsUnbanded(g, vaeRunner(vae), readSafetensors(join(VAE, 'io.safetensors')), 64 * 1024, true);
      await expectBandedEqualsUnbanded(g, consistencyRunner(model), readSafetensors(join(CD, 'io.safetensors')), 64 * 1024, true);
    } finally {
      vae.release();
      model.release();
    }
  });
});

describe('f16 activations: API', () => {
  it('decode and encode take and return f32 tensors', async () => {
    const g = gpu();
    const vae = await AutoencoderKL.load(g, VAE);
    try {
      vae.setActivations('f16', { force: true });
      const z = g.upload(new Float32Array(2 * 3 * 4).fill(0.5), [1, 2, 3, 4]);
      const y = vae.decode(z);
      expect([y.dtype, ...y.shape]).toEqual(['f32', 1, 4, 6, 3]);
      const dist = vae.encode(y);
      expect([dist.mean.dtype, dist.logvar.dtype, dist.std.dtype]).toEqual(['f32', 'f32', 'f32']);
      [z, y].forEach((t) => t.release());
      dist.release();
    } finally {
      vae.release();
    }
  });

  it('refuses f16 for a force_upcast config unless forced, naming the reason', async () => {
    const vae = await AutoencoderKL.load(gpu(), VAE);
    try {
      expect(() => vae.setActivations('f16')).toThrow(/AutoencoderKL: its config says force_upcast: true .*pass \{ force: true \}/);
      expect(vae.activations).toBe('f32');
      expect(() => vae.setActivations('bf16' as 'f16')).toThrow(/activations must be 'f32' or 'f16', got "bf16"/);
      vae.setActivations('f16', { force: true });
      vae.setActivations('f32');
      expect(vae.activations).toBe('f32');
    } finally {
      vae.release();
    }
  });

  it('refuses f16 on a device without shader-f16', async () => {
    const adapter = await requestAdapter();
    const device = await adapter.requestDevice(); // no optional features: no shader-f16
    const g = Gpu.fromDevice(device, {}, 'test device');
    try {
      expect(g.features.f16).toBe(false);
      const model = await ConsistencyDecoder.load(g, CD);
      expect(() => model.setActivations('f16')).toThrow(/ConsistencyDecoder: f16 activations need the adapter feature 'shader-f16', which test device does not offer/);
      model.release();
    } finally {
      g.destroy();
    }
  });

  it('a dry run counts f16 activations at 2 bytes: the planned decode peak drops accordingly', async () => {
    const dry = await Gpu.create({ dryRun: true });
    // Direct convolutions: Winograd's V and M scratch is f32 on both paths and, at this tiny size,
    // larger than the activations, which would hide what this test is about.
    convPolicy.winograd = false;
    try {
      const before = dry.pool.getStats().inUseBytes;
      const t = dry.empty([4096], 'x', 'f16', true);
      expect(dry.pool.getStats().inUseBytes - before).toBe(8192); // exact buffers: 2 bytes per half
      const u = dry.empty([4096], 'x', 'f32', true);
      expect(dry.pool.getStats().inUseBytes - before).toBe(8192 + 16384);
      [t, u].forEach((x) => x.release());
      const vae = await AutoencoderKL.load(dry, VAE);
      peakOf(dry, vae, 'f32'); // a first decode, so that anything cached on first use is in `weights`
      const weights = dry.pool.getStats().inUseBytes;
      const peak = (act: 'f32' | 'f16') => {
        vae.setActivations(act, { force: true });
        const z = dry.empty([1, 16, 16, 4], 'latent');
        dry.pool.trim();
        dry.pool.resetPeak();
        vae.decode(z).release();
        z.release();
        return dry.pool.getStats().peakInUseBytes - weights;
      };
      const [p32, p16] = [peak('f32'), peak('f16')];
      expect(peak('f32')).toBe(p32); // a steady state: nothing else is being cached
      // The tiny VAE's peak is in the mid-block attention, whose f32 scores (256 tokens squared) do not
      // shrink; the consistency UNet has no attention: its activations halve, the f32 sampler does not.
      expect(p16).toBeLessThan(p32);
      const cd = await ConsistencyDecoder.load(dry, CD);
      const cdPeak = (act: 'f32' | 'f16') => {
        cd.setActivations(act);
        const z = dry.empty([1, 4, 4, 4], 'latent');
        const noise = [new Float32Array(3 * 32 * 32), new Float32Array(3 * 32 * 32)];
        cd.decode(z, { noise }).release();
        dry.pool.trim();
        dry.pool.resetPeak();
        const base = dry.pool.getStats().inUseBytes;
        cd.decode(z, { noise }).release();
        z.release();
        return dry.pool.getStats().peakInUseBytes - base;
      };
      const [c32, c16] = [cdPeak('f32'), cdPeak('f16')];
      expect(c16).toBeLessThan(0.75 * c32);
      expect(c16).toBeGreaterThan(0.4 * c32);
      cd.release();
      vae.release();
    } finally {
      convPolicy.winograd = true;
      dry.destroy();
    }
  });
});
