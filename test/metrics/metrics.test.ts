// PSNR and SSIM against scikit-image 0.19's numbers for real decoder outputs (test/fixtures/images,
// copied from the shared sample images), plus the edge cases and the `sdvae metrics` command.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { runMetrics } from '../../src/cli/metrics.js';
import { createImage, type RgbImage } from '../../src/io/image.js';
import { readPng, writePng } from '../../src/io/png.js';
import { psnr } from '../../src/metrics/psnr.js';
import { ssim, ssimLuma, ssimPlane, ssimRgb, toLuma } from '../../src/metrics/ssim.js';

const IMAGES = join(import.meta.dirname, '..', 'fixtures', 'images');

interface Pair {
  original: string;
  decoded: string;
  psnr_rgb: number;
  ssim_rgb_mean_over_channels: number;
  ssim_luma_pil_L: number;
}
const PAIRS: Pair[] = JSON.parse(readFileSync(join(IMAGES, 'metrics.json'), 'utf8')).pairs;

const load = (name: string): RgbImage => readPng(join(IMAGES, name)).image;

function noise(width: number, height: number, seed: number): RgbImage {
  const img = createImage(width, height);
  let s = seed;
  for (let i = 0; i < img.data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    img.data[i] = s >>> 24;
  }
  return img;
}

describe('against scikit-image 0.19 (metrics.json)', () => {
  const worst = { psnr: 0, ssim: 0, luma: 0 };
  afterAll(() => console.log(`worst |diff| vs metrics.json: psnr ${worst.psnr.toExponential(2)} dB, ssim ${worst.ssim.toExponential(2)}, ssim_luma ${worst.luma.toExponential(2)}`));

  it.each(PAIRS)('$decoded vs $original', (p) => {
    const a = load(p.original);
    const b = load(p.decoded);
    const d = {
      psnr: Math.abs(psnr(a, b) - p.psnr_rgb),
      ssim: Math.abs(ssimRgb(a, b) - p.ssim_rgb_mean_over_channels),
      luma: Math.abs(ssimLuma(a, b) - p.ssim_luma_pil_L),
    };
    worst.psnr = Math.max(worst.psnr, d.psnr);
    worst.ssim = Math.max(worst.ssim, d.ssim);
    worst.luma = Math.max(worst.luma, d.luma);
    expect(d.psnr).toBeLessThan(0.01);
    expect(d.ssim).toBeLessThan(0.001);
    expect(d.luma).toBeLessThan(0.001);
    // what we actually get: float64 round-off only; 1e-4 off would mean a wrong detail
    expect(d.psnr).toBeLessThan(1e-9);
    expect(d.ssim).toBeLessThan(1e-9);
    expect(d.luma).toBeLessThan(1e-9);
  });
});

describe('psnr and ssim', () => {
  it('identical images: PSNR Infinity, SSIM 1', () => {
    const a = noise(32, 24, 1);
    expect(psnr(a, a)).toBe(Infinity);
    expect(ssimRgb(a, a)).toBeCloseTo(1, 12);
    expect(ssimLuma(a, a)).toBeCloseTo(1, 12);
  });

  it('PSNR from a known MSE', () => {
    const a = createImage(4, 4, [10, 10, 10]);
    const b = createImage(4, 4, [12, 10, 10]); // squared error 4 on one value in three: MSE 4/3
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10((255 * 255) / (4 / 3)), 12);
  });

  it('ssim() with no channel is the RGB mean; channels differ', () => {
    const a = noise(20, 20, 2);
    const b = noise(20, 20, 3);
    for (let i = 0; i < a.data.length; i += 3) b.data[i] = a.data[i]; // red identical
    expect(ssim(a, b, 0)).toBeCloseTo(1, 12);
    expect(ssim(a, b, 1)).toBeLessThan(0.5);
    expect(ssim(a, b)).toBe(ssimRgb(a, b));
  });

  it('size mismatch names both sizes', () => {
    expect(() => psnr(noise(16, 16, 1), noise(16, 12, 1))).toThrow('16x16 vs 16x12');
    expect(() => ssimRgb(noise(16, 16, 1), noise(12, 16, 1))).toThrow('16x16 vs 12x16');
  });

  it('SSIM needs at least the 11x11 window', () => {
    expect(() => ssimPlane(new Uint8Array(100), new Uint8Array(100), 10, 10)).toThrow('at least 11x11');
  });

  it("luma rounds like Pillow's convert('L'), not truncating", () => {
    const img: RgbImage = { width: 3, height: 1, data: Uint8Array.from([255, 255, 255, 1, 1, 1, 10, 200, 30]) };
    // 10*0.299 + 200*0.587 + 30*0.114 = 123.81: Pillow gives 124 (truncation would give 123)
    expect([...toLuma(img)]).toEqual([255, 1, 124]);
  });
});

describe('sdvae metrics', () => {
  const logs: string[] = [];
  const errors: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    logs.length = errors.length = 0;
  });
  function capture() {
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void logs.push(a.join(' ')));
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
  }

  it('--json prints the three numbers', async () => {
    capture();
    const p = PAIRS[1];
    expect(await runMetrics([join(IMAGES, p.original), join(IMAGES, p.decoded), '--json'])).toBe(0);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^\{"psnr": [\d.]+, "ssim": [\d.]+, "ssim_luma": [\d.]+\}$/);
    const r = JSON.parse(logs[0]);
    expect(Object.keys(r)).toEqual(['psnr', 'ssim', 'ssim_luma']);
    expect(r.psnr).toBeCloseTo(p.psnr_rgb, 9);
    expect(r.ssim).toBeCloseTo(p.ssim_rgb_mean_over_channels, 9);
    expect(r.ssim_luma).toBeCloseTo(p.ssim_luma_pil_L, 9);
  });

  it('prints a readable summary', async () => {
    capture();
    expect(await runMetrics([join(IMAGES, 'gt1.png'), join(IMAGES, 'con1.png')])).toBe(0);
    expect(logs.join('\n')).toMatch(/PSNR +28\.08 dB[\s\S]*SSIM +0\.9018[\s\S]*SSIM luma +0\.9087/);
  });

  it('identical images: psnr null in JSON (JSON has no Infinity)', async () => {
    capture();
    const gt = join(IMAGES, 'gt2.png');
    expect(await runMetrics([gt, gt, '--json'])).toBe(0);
    expect(JSON.parse(logs[0])).toEqual({ psnr: null, ssim: 1, ssim_luma: 1 });
  });

  it('exit 2 with usage on wrong arguments', async () => {
    capture();
    expect(await runMetrics([join(IMAGES, 'gt1.png')])).toBe(2);
    expect(await runMetrics(['a.png', 'b.png', '--bogus'])).toBe(2);
    expect(errors.join('\n')).toContain('sdvae metrics ORIGINAL.png DECODED.png');
    expect(logs).toHaveLength(0);
  });

  it('errors name the file', async () => {
    capture();
    const missing = join(IMAGES, 'nope.png');
    await expect(runMetrics([join(IMAGES, 'gt1.png'), missing])).rejects.toThrow(missing);
    const dir = mkdtempSync(join(tmpdir(), 'sdvae-metrics-'));
    const small = join(dir, 'small.png');
    writePng(small, createImage(16, 16));
    await expect(runMetrics([join(IMAGES, 'gt1.png'), small])).rejects.toThrow(/gt1\.png is 256x256 but .*small\.png is 16x16/);
  });
});
