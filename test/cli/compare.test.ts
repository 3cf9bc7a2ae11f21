// sdvae compare, on the tiny model pair that shares one latent space (test/fixtures/tiny-pair: a
// 4-level tiny SD VAE with the tiny consistency decoder's own encoder), and on the real decoded images.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCompare } from '../../src/cli/compare.js';
import { mostDifferentWindow } from '../../src/compare.js';
import { createImage } from '../../src/io/image.js';
import { readLatentFile } from '../../src/io/latents.js';
import { readPng } from '../../src/io/png.js';
import { FIXTURES } from '../helpers.js';

const IMAGES = join(import.meta.dirname, '../fixtures/images');
const PAIR_VAE = join(import.meta.dirname, '../fixtures/tiny-pair/vae');
const CONS = join(FIXTURES, 'models/tiny-consistency');
let dir: string;
let out: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdvae-compare-'));
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

describe('sdvae compare', () => {
  it('--decoded: reproduces the published metrics of the real decoder outputs', async () => {
    const ref = JSON.parse(readFileSync(join(IMAGES, 'metrics.json'), 'utf8')).pairs;
    expect(await runCompare([join(IMAGES, 'gt1.png'), '--decoded', `${join(IMAGES, 'gan1.png')},${join(IMAGES, 'con1.png')}`, '--labels', 'SD VAE,Consistency', '-o', dir, '--json'])).toBe(0);
    const [report] = JSON.parse(out.join('\n'));
    expect(report.decoders[0].psnr).toBeCloseTo(ref[0].psnr_rgb, 2);
    expect(Math.abs(report.decoders[1].ssim - ref[1].ssim_rgb_mean_over_channels)).toBeLessThan(1e-3);
    const fig = readPng(join(dir, 'gt1.compare.png')).image;
    expect(fig.width).toBeGreaterThan(3 * 256);
    expect(existsSync(join(dir, 'report.json'))).toBe(true);
  });

  it('with models: latent, decodes, figure, metrics, storage for each image', async () => {
    const args = [join(IMAGES, 'gt1.png'), join(IMAGES, 'gt3.png'), '--vae', PAIR_VAE, '--consistency', CONS, '--resize', '64', '-o', dir, '--steps', '1', '--seed', '1'];
    expect(await runCompare(args)).toBe(0);
    const reports = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(reports.map((r: { image: string }) => r.image)).toEqual(['gt1', 'gt3']);
    for (const r of reports) {
      expect(r.decoders.map((d: { decoder: string }) => d.decoder)).toEqual(['SD VAE', 'Consistency']);
      for (const d of r.decoders) {
        expect(Number.isFinite(d.psnr)).toBe(true);
        expect(d.seconds).toBeGreaterThan(0);
      }
      expect(r.storage.latent_bytes).toEqual({ fp32: 1024, fp16: 512, u8: 288 });
      expect(r.storage.compression.fp16).toBe(24);
      expect(Object.keys(r.storage.psnr_by_precision)).toEqual(['fp32', 'fp16', 'u8']);
      expect(readLatentFile(join(dir, `${r.image}.latent.safetensors`)).precision).toBe('fp16');
      expect(readPng(join(dir, `${r.image}.consistency.png`)).image.width).toBe(64);
    }
    expect(out.join('\n')).toMatch(/SD VAE decode PSNR by latent precision/);
    // A second run does not overwrite without --force.
    await expect(runCompare(args)).rejects.toThrow(/already exists; use --force/);
  });

  it('refuses models that do not share a latent space', async () => {
    await expect(runCompare([join(IMAGES, 'gt1.png'), '--vae', join(FIXTURES, 'models/tiny-vae'), '--consistency', CONS, '-o', dir])).rejects.toThrow(/do not share a latent space/);
  });

  it('finds the window where two images differ most', () => {
    const a = createImage(64, 64);
    const b = createImage(64, 64);
    for (let y = 40; y < 56; y++) for (let x = 8; x < 24; x++) b.data[(y * 64 + x) * 3] = 255;
    expect(mostDifferentWindow(a, b)).toEqual({ x: 8, y: 40, size: 16 });
  });
});
