// The classic decoder comparison: an original, its SD VAE decode and its consistency decode, side by
// side, with a zoomed crop where the decoders differ most, and the numbers (PSNR, SSIM, time, storage).
// No Node imports: the page builds the same figure (a PNG's byte count, which needs an encoder, is
// io/png.ts pngBytes in Node).

import { createImage, crop, paste, sideBySide, upscaleNearest, type RgbImage } from './io/image.js';
import { psnr } from './metrics/psnr.js';
import { ssimLuma, ssimRgb } from './metrics/ssim.js';

export interface DecoderResult {
  label: string;
  image: RgbImage;
  /** Seconds, or undefined for images given already decoded. */
  seconds?: number;
}

export interface DecoderReport {
  decoder: string;
  psnr: number;
  ssim: number;
  ssim_luma: number;
  seconds?: number;
}

export interface StorageReport {
  png_bytes: number;
  latent_bytes: { fp32: number; fp16: number; u8: number };
  /** RGB8 bytes / latent bytes. */
  compression: { fp32: number; fp16: number; u8: number };
  /** PSNR (dB) of the SD VAE decode of the latent after storing it in each precision, vs the original. */
  psnr_by_precision?: { fp32: number; fp16: number; u8: number };
}

export interface ImageReport {
  image: string;
  size: [number, number];
  decoders: DecoderReport[];
  storage?: StorageReport;
  zoom: { x: number; y: number; size: number };
  figure: string;
}

export function measure(original: RgbImage, d: DecoderResult): DecoderReport {
  return { decoder: d.label, psnr: psnr(original, d.image), ssim: ssimRgb(original, d.image), ssim_luma: ssimLuma(original, d.image), seconds: d.seconds };
}

/** The square window (a quarter of the shorter side) where images a and b differ most (sum of |a − b|). */
export function mostDifferentWindow(a: RgbImage, b: RgbImage): { x: number; y: number; size: number } {
  const size = Math.max(8, Math.floor(Math.min(a.width, a.height) / 4));
  const step = Math.max(1, Math.floor(size / 4));
  // Integral image of the per-pixel difference, so every window costs O(1).
  const W = a.width;
  const H = a.height;
  const integral = new Float64Array((W + 1) * (H + 1));
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let d = 0;
      for (let c = 0; c < 3; c++) d += Math.abs(a.data[(y * W + x) * 3 + c] - b.data[(y * W + x) * 3 + c]);
      integral[(y + 1) * (W + 1) + x + 1] = d + integral[y * (W + 1) + x + 1] + integral[(y + 1) * (W + 1) + x] - integral[y * (W + 1) + x];
    }
  const sum = (x: number, y: number) =>
    integral[(y + size) * (W + 1) + x + size] - integral[y * (W + 1) + x + size] - integral[(y + size) * (W + 1) + x] + integral[y * (W + 1) + x];
  let best = { x: 0, y: 0, size, score: -1 };
  for (let y = 0; y + size <= H; y += step)
    for (let x = 0; x + size <= W; x += step) {
      const s = sum(x, y);
      if (s > best.score) best = { x, y, size, score: s };
    }
  return { x: best.x, y: best.y, size: Math.min(size, W, H) };
}

/** Row 1: the full images, labelled. Row 2: the same zoomed window of each (nearest, so pixels show). */
export function comparisonFigure(original: RgbImage, decoded: DecoderResult[], zoom: { x: number; y: number; size: number }): RgbImage {
  const all = [original, ...decoded.map((d) => d.image)];
  const labels = ['Original', ...decoded.map((d) => d.label)];
  const top = sideBySide(all, labels);
  const factor = Math.max(1, Math.floor(original.width / zoom.size));
  const crops = all.map((im) => upscaleNearest(crop(im, zoom.x, zoom.y, zoom.size, zoom.size), factor));
  const bottom = sideBySide(crops, labels.map((l) => `${l} (zoom x${factor})`));
  const gap = 8;
  const fig = createImage(Math.max(top.width, bottom.width), top.height + gap + bottom.height, [255, 255, 255]);
  paste(fig, top, 0, 0);
  paste(fig, bottom, 0, top.height + gap);
  return fig;
}

/** The terminal table. */
export function formatReports(reports: ImageReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(`${r.image} (${r.size[0]}x${r.size[1]}) -> ${r.figure}`);
    lines.push(`  ${'decoder'.padEnd(14)} ${'PSNR dB'.padStart(8)} ${'SSIM'.padStart(7)} ${'SSIM(Y)'.padStart(8)} ${'time s'.padStart(8)}`);
    for (const d of r.decoders)
      lines.push(`  ${d.decoder.padEnd(14)} ${d.psnr.toFixed(2).padStart(8)} ${d.ssim.toFixed(4).padStart(7)} ${d.ssim_luma.toFixed(4).padStart(8)} ${(d.seconds === undefined ? '-' : d.seconds.toFixed(2)).padStart(8)}`);
    if (r.storage) {
      const s = r.storage;
      lines.push(`  storage: PNG ${s.png_bytes} B; latent fp32 ${s.latent_bytes.fp32} B (${s.compression.fp32.toFixed(0)}x vs RGB8), fp16 ${s.latent_bytes.fp16} B (${s.compression.fp16.toFixed(0)}x), u8 ${s.latent_bytes.u8} B (${s.compression.u8.toFixed(0)}x)`);
      if (s.psnr_by_precision)
        lines.push(`  SD VAE decode PSNR by latent precision: fp32 ${s.psnr_by_precision.fp32.toFixed(2)} dB, fp16 ${s.psnr_by_precision.fp16.toFixed(2)} dB, u8 ${s.psnr_by_precision.u8.toFixed(2)} dB`);
    }
  }
  return lines.join('\n');
}
