// Structural similarity (Wang et al. 2004), computed exactly as scikit-image 0.19 does with
// `structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False)`, so our numbers can be compared with published Python ones:
//
// - pixels are converted to float64;
// - local means, variances and covariance come from a Gaussian filter (scipy.ndimage.gaussian_filter,
//   sigma 1.5 truncated at 3.5 sigma: radius int(3.5 * 1.5 + 0.5) = 5, an 11-tap kernel normalised to
//   sum 1; mode 'reflect'; rows first, then columns);
// - variances are population ones (E[x^2] - E[x]^2, no n/(n-1)): use_sample_covariance=False;
// - C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2;
// - the SSIM map is averaged after cropping (win_size - 1) / 2 = 5 pixels from every border, where the
//   window would have reached past the image (so the border mode never actually matters).
//
// For colour images skimage computes each channel separately and averages the three numbers.

import type { RgbImage } from '../io/image.js';
import { assertSameSize } from './psnr.js';

const SIGMA = 1.5;
const TRUNCATE = 3.5;
const RADIUS = Math.trunc(TRUNCATE * SIGMA + 0.5); // 5
const WIN = 2 * RADIUS + 1; // 11
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

/** scipy's _gaussian_kernel1d: exp(-0.5 / sigma^2 * x^2) for x in [-r, r], divided by its sum. */
const KERNEL = (() => {
  const k = new Float64Array(WIN);
  let sum = 0;
  for (let i = 0; i < WIN; i++) sum += k[i] = Math.exp((-0.5 / (SIGMA * SIGMA)) * (i - RADIUS) ** 2);
  return k.map((v) => v / sum);
})();

/** scipy's 'reflect' mode (d c b a | a b c d | d c b a): the edge sample is repeated. */
function reflect(i: number, n: number): number {
  for (;;) {
    if (i < 0) i = -i - 1;
    else if (i >= n) i = 2 * n - i - 1;
    else return i;
  }
}

/** Separable Gaussian filter of a width x height plane: along columns (axis 0) first, as scipy does. */
function gaussian(src: Float64Array, width: number, height: number): Float64Array {
  const tmp = new Float64Array(src.length);
  const out = new Float64Array(src.length);
  const pass = (from: Float64Array, to: Float64Array, n: number, stride: number, lines: number, lineStride: number) => {
    for (let l = 0; l < lines; l++) {
      const base = l * lineStride;
      for (let i = 0; i < n; i++) {
        // scipy's correlate1d for a symmetric kernel: centre tap, then pairs of mirrored taps
        let acc = from[base + i * stride] * KERNEL[RADIUS];
        for (let j = 1; j <= RADIUS; j++) {
          acc += (from[base + reflect(i - j, n) * stride] + from[base + reflect(i + j, n) * stride]) * KERNEL[RADIUS + j];
        }
        to[base + i * stride] = acc;
      }
    }
  };
  pass(src, tmp, height, width, width, 1); // down each column
  pass(tmp, out, width, 1, height, width); // along each row
  return out;
}

/** Mean SSIM of two single-channel width x height planes of values in [0, 255]. */
export function ssimPlane(x: ArrayLike<number>, y: ArrayLike<number>, width: number, height: number): number {
  if (width < WIN || height < WIN) {
    throw new Error(`SSIM needs images of at least ${WIN}x${WIN} (its Gaussian window), got ${width}x${height}`);
  }
  const n = width * height;
  if (x.length !== n || y.length !== n) throw new Error(`SSIM planes must hold ${width}x${height} values`);
  const a = Float64Array.from(x);
  const b = Float64Array.from(y);
  const ux = gaussian(a, width, height);
  const uy = gaussian(b, width, height);
  const uxx = gaussian(a.map((v) => v * v), width, height);
  const uyy = gaussian(b.map((v) => v * v), width, height);
  const uxy = gaussian(a.map((v, i) => v * b[i]), width, height);
  let sum = 0;
  for (let r = RADIUS; r < height - RADIUS; r++) {
    for (let c = RADIUS; c < width - RADIUS; c++) {
      const i = r * width + c;
      const vx = uxx[i] - ux[i] * ux[i];
      const vy = uyy[i] - uy[i] * uy[i];
      const vxy = uxy[i] - ux[i] * uy[i];
      const num = (2 * ux[i] * uy[i] + C1) * (2 * vxy + C2);
      const den = (ux[i] ** 2 + uy[i] ** 2 + C1) * (vx + vy + C2);
      sum += num / den;
    }
  }
  return sum / ((width - 2 * RADIUS) * (height - 2 * RADIUS));
}

function channel(img: RgbImage, c: number): Uint8Array {
  const out = new Uint8Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i * 3 + c];
  return out;
}

/** SSIM of one channel (0 = R, 1 = G, 2 = B), or with no channel the mean over the three. */
export function ssim(a: RgbImage, b: RgbImage, ch?: 0 | 1 | 2): number {
  assertSameSize(a, b);
  if (ch === undefined) return ssimRgb(a, b);
  return ssimPlane(channel(a, ch), channel(b, ch), a.width, a.height);
}

/** Mean of the R, G and B channels' SSIM (skimage with channel_axis=-1). */
export function ssimRgb(a: RgbImage, b: RgbImage): number {
  return (ssim(a, b, 0) + ssim(a, b, 1) + ssim(a, b, 2)) / 3;
}

/**
 * PIL's `convert('L')` (ITU-R 601-2 luma): L = R * 299/1000 + G * 587/1000 + B * 114/1000, computed as
 * Pillow does in 16-bit fixed point with rounding: (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16.
 * (Truncating R*299 + G*587 + B*114 / 1000 instead moves SSIM by up to 1e-3 on the sample images.)
 */
export function toLuma(img: RgbImage): Uint8Array {
  const out = new Uint8Array(img.width * img.height);
  const d = img.data;
  for (let i = 0; i < out.length; i++) {
    out[i] = (d[3 * i] * 19595 + d[3 * i + 1] * 38470 + d[3 * i + 2] * 7471 + 0x8000) >> 16;
  }
  return out;
}

/** SSIM of the two images' PIL 'L' luma planes. */
export function ssimLuma(a: RgbImage, b: RgbImage): number {
  assertSameSize(a, b);
  return ssimPlane(toLuma(a), toLuma(b), a.width, a.height);
}
