// Peak signal-to-noise ratio between two 8-bit RGB images, as scikit-image computes it with
// `peak_signal_noise_ratio(a, b, data_range=255)`: the mean squared error over every channel of every
// pixel, in float64, then 10 * log10(255^2 / mse). Identical images give Infinity.

import type { RgbImage } from '../io/image.js';

/** Throws unless both images have the same size; the message names both sizes. */
export function assertSameSize(a: RgbImage, b: RgbImage): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`images differ in size: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  }
}

export function psnr(a: RgbImage, b: RgbImage): number {
  assertSameSize(a, b);
  let sum = 0; // exact: a sum of integers far below 2^53
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    sum += d * d;
  }
  if (sum === 0) return Infinity;
  return 10 * Math.log10((255 * 255) / (sum / a.data.length));
}
