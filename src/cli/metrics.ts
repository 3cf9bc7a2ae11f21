// sdvae metrics: how close a decoded image is to its original, in the numbers papers report: PSNR over
// RGB, SSIM averaged over the R, G and B channels, and SSIM on luma (PIL's 'L'). Settings and rounding
// match scikit-image 0.19 and Pillow, so results compare directly with Python (see src/metrics).
// CPU only: needs no GPU.

import { parseArgs } from 'node:util';
import { readPng } from '../io/png.js';
import { psnr } from '../metrics/psnr.js';
import { ssimLuma, ssimRgb } from '../metrics/ssim.js';

export const METRICS_HELP = `sdvae metrics ORIGINAL.png DECODED.png [--json]

Compares two images of the same size:
  PSNR       peak signal-to-noise ratio in dB over all RGB values (data range 255; inf if identical)
  SSIM       structural similarity (Gaussian window, sigma 1.5), mean over the R, G and B channels
  SSIM luma  structural similarity of the luma planes (PIL's 'L' conversion)
--json prints {"psnr": .., "ssim": .., "ssim_luma": ..} instead (psnr is null for identical images).
Alpha is dropped and 16-bit images are reduced to 8 bits, with a warning on stderr.`;

export interface MetricsResult {
  psnr: number;
  ssim: number;
  ssim_luma: number;
}

/** Reads both files and computes the three metrics; errors name the file (or both sizes). */
export function computeMetrics(originalPath: string, decodedPath: string, warn: (msg: string) => void = () => {}): MetricsResult {
  const a = readPng(originalPath);
  const b = readPng(decodedPath);
  [...a.warnings, ...b.warnings].forEach(warn);
  const { image: x } = a;
  const { image: y } = b;
  if (x.width !== y.width || x.height !== y.height) {
    throw new Error(`${originalPath} is ${x.width}x${x.height} but ${decodedPath} is ${y.width}x${y.height}; metrics need equal sizes`);
  }
  return { psnr: psnr(x, y), ssim: ssimRgb(x, y), ssim_luma: ssimLuma(x, y) };
}

export async function runMetrics(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (e) {
    console.error(`metrics: ${(e as Error).message}\n\n${METRICS_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(METRICS_HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    console.error(`metrics: expected 2 images, got ${positionals.length}\n\n${METRICS_HELP}`);
    return 2;
  }
  const m = computeMetrics(positionals[0], positionals[1], (msg) => console.error(`warning: ${msg}`));
  if (values.json) {
    // JSON has no Infinity: identical images give "psnr": null
    const psnrJson = Number.isFinite(m.psnr) ? m.psnr : null;
    console.log(`{"psnr": ${psnrJson}, "ssim": ${m.ssim}, "ssim_luma": ${m.ssim_luma}}`);
  } else {
    console.log(`PSNR       ${Number.isFinite(m.psnr) ? m.psnr.toFixed(2) + ' dB' : 'inf (identical)'}`);
    console.log(`SSIM       ${m.ssim.toFixed(4)}  (mean over R, G, B)`);
    console.log(`SSIM luma  ${m.ssim_luma.toFixed(4)}`);
  }
  return 0;
}
