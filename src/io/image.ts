// Images as plain CPU data (8-bit RGB, row-major, 3 bytes per pixel) and what the command line does with
// them before and after the GPU: center-crop and resize an input the way OpenAI's `load_image` does, turn
// it into the [-1, 1] NHWC tensor the encoder takes, turn a decoded tensor back into pixels the way
// diffusers does, and lay results side by side with labels for comparison pictures.
//
// Exactness matters here because everything downstream is compared with Python: `resize` reproduces
// Pillow's BICUBIC resize bit for bit (fixed-point arithmetic included), and the tensor conversions round
// the way torch/numpy do in float32.

export interface RgbImage {
  width: number;
  height: number;
  /** RGB, 3 bytes per pixel, row-major, no padding. */
  data: Uint8Array;
}

export type Rgb = readonly [number, number, number];

/** A new image filled with one colour (black by default). */
export function createImage(width: number, height: number, fill: Rgb = [0, 0, 0]): RgbImage {
  checkSize(width, height);
  const data = new Uint8Array(width * height * 3);
  if (fill[0] || fill[1] || fill[2]) for (let i = 0; i < data.length; i += 3) data.set(fill, i);
  return { width, height, data };
}

function checkSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`image size must be positive integers, got ${width}x${height}`);
  }
}

/** Throws unless `data` holds exactly width x height RGB pixels. */
export function checkImage(img: RgbImage): void {
  checkSize(img.width, img.height);
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`image data has ${img.data.length} bytes, expected ${img.width}x${img.height}x3`);
  }
}

/** The w x h rectangle whose top-left corner is (x, y); it must lie inside the image. */
export function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  checkSize(w, h);
  if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x + w > img.width || y + h > img.height) {
    throw new Error(`crop ${w}x${h} at (${x}, ${y}) does not fit in a ${img.width}x${img.height} image`);
  }
  const out = new Uint8Array(w * h * 3);
  for (let row = 0; row < h; row++) {
    const from = ((y + row) * img.width + x) * 3;
    out.set(img.data.subarray(from, from + w * 3), row * w * 3);
  }
  return { width: w, height: h, data: out };
}

/**
 * A centered width x height crop; with no size, the largest centered square (what OpenAI's load_image
 * does before resizing). Odd leftovers go to the right/bottom, as with Python's `(W - s) // 2`.
 */
export function centerCrop(img: RgbImage, width?: number, height: number | undefined = width): RgbImage {
  const side = Math.min(img.width, img.height);
  const w = width ?? side;
  const h = height ?? side;
  if (w > img.width || h > img.height) {
    throw new Error(`cannot center-crop a ${img.width}x${img.height} image to ${w}x${h}`);
  }
  return crop(img, Math.floor((img.width - w) / 2), Math.floor((img.height - h) / 2), w, h);
}

/** Each pixel becomes a factor x factor block: for zoomed-in detail crops that show pixels as pixels. */
export function upscaleNearest(img: RgbImage, factor: number): RgbImage {
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`upscale factor must be a positive integer, got ${factor}`);
  const w = img.width * factor;
  const out = new Uint8Array(w * img.height * factor * 3);
  for (let y = 0; y < img.height * factor; y++) {
    const src = Math.floor(y / factor) * img.width * 3;
    for (let x = 0; x < w; x++) {
      const s = src + Math.floor(x / factor) * 3;
      const d = (y * w + x) * 3;
      out[d] = img.data[s];
      out[d + 1] = img.data[s + 1];
      out[d + 2] = img.data[s + 2];
    }
  }
  return { width: w, height: img.height * factor, data: out };
}

// ---- resize: Pillow's BICUBIC (Resample.c), which OpenAI's load_image uses via `Image.resize` ----
//
// A separable convolution with Keys' cubic (a = -0.5). When shrinking, the kernel is stretched by the scale
// factor, so every source pixel contributes (antialiasing) instead of the kernel sampling 4 of them and
// aliasing. Pillow turns the weights into 22-bit fixed point and rounds to 8 bits after each pass
// (horizontal first); we do the same so that our inputs match Python's to the last bit.

const PRECISION_BITS = 22; // 32 - 8 - 2: 8 bits of pixel, 2 bits of headroom for negative lobes

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Taps {
  first: Int32Array; // first source index for each output index
  count: Int32Array; // how many source pixels it reads
  weights: Int32Array; // `ksize` fixed-point weights per output index
  ksize: number;
}

function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale; // bicubic's support is 2
  const ksize = Math.ceil(support) * 2 + 1;
  const ss = 1 / filterScale; // Pillow multiplies by the reciprocal; dividing can differ in the last bit
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) sum += k[x] = bicubic((x + xmin - center + 0.5) * ss);
    for (let x = 0; x < n; x++) {
      const w = sum !== 0 ? k[x] / sum : k[x];
      // C's (int) truncates toward zero, so Pillow adds +-0.5 first: round half away from zero
      weights[xx * ksize + x] = Math.trunc(w < 0 ? w * (1 << PRECISION_BITS) - 0.5 : w * (1 << PRECISION_BITS) + 0.5);
    }
    first[xx] = xmin;
    count[xx] = n;
  }
  return { first, count, weights, ksize };
}

/** One pass along rows (`horizontal`) or columns, rounding to 8 bits as Pillow does. */
function resamplePass(img: RgbImage, outW: number, outH: number, t: Taps, horizontal: boolean): RgbImage {
  const out = new Uint8Array(outW * outH * 3);
  const src = img.data;
  // step between neighbouring taps in the source, in bytes
  const step = horizontal ? 3 : img.width * 3;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = horizontal ? x : y;
      const base = horizontal ? (y * img.width + t.first[o]) * 3 : (t.first[o] * img.width + x) * 3;
      const kOff = o * t.ksize;
      for (let c = 0; c < 3; c++) {
        let acc = 1 << (PRECISION_BITS - 1); // +0.5 in fixed point: round to nearest
        for (let i = 0; i < t.count[o]; i++) acc += src[base + i * step + c] * t.weights[kOff + i];
        const v = Math.floor(acc / (1 << PRECISION_BITS));
        out[(y * outW + x) * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return { width: outW, height: outH, data: out };
}

/**
 * Resizes to width x height with Pillow's BICUBIC filter (Keys cubic, a = -0.5, antialiased when
 * downscaling), matching `PIL.Image.resize(size, Image.BICUBIC)` exactly for RGB images.
 */
export function resize(img: RgbImage, width: number, height: number): RgbImage {
  checkImage(img);
  checkSize(width, height);
  let out = img;
  if (width !== img.width) out = resamplePass(out, width, out.height, taps(img.width, width), true);
  if (height !== img.height) out = resamplePass(out, width, height, taps(img.height, height), false);
  return out === img ? { width, height, data: img.data.slice() } : out;
}

// ---- tensors ----

/**
 * NHWC [1, H, W, 3] float32 in [-1, 1], as OpenAI's load_image computes it in float32: `v / 127.5 - 1`.
 * Each step is rounded to float32 (Math.fround) so the values equal torch's bit for bit.
 */
export function toTensorData(img: RgbImage): Float32Array {
  checkImage(img);
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(img.data[i] / 127.5) - 1;
  return out;
}

/**
 * The inverse, as diffusers post-processes a decoded NHWC [1, H, W, 3] tensor: `(x / 2 + 0.5).clamp(0, 1)`
 * in float32, then numpy's `(x * 255).round()`, which rounds halves to even. NaN becomes 0.
 */
export function fromTensorData(data: Float32Array, width: number, height: number): RgbImage {
  checkSize(width, height);
  if (data.length !== width * height * 3) {
    throw new Error(`tensor has ${data.length} values, expected 1x${height}x${width}x3 = ${width * height * 3}`);
  }
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = Math.fround(Math.fround(data[i] / 2) + 0.5);
    const clamped = x > 1 ? 1 : x >= 0 ? x : 0; // written so that NaN lands on 0
    out[i] = roundHalfEven(Math.fround(clamped * 255));
  }
  return { width, height, data: out };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v); // rounds halves up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---- labels: a 5x7 bitmap font, so comparison pictures need no font files or dependencies ----

// Printable ASCII (32..126), 8 glyphs per string. Each glyph is 7 rows, top to bottom; each row is one
// base-32 digit whose 5 bits are the pixels, most significant bit on the left. Shapes follow the HD44780
// LCD character ROM.
const FONT = [
  '0000000 4444004 aaa0000 aavavaa 4fke5u4 op248j3 cik8lid c480000',
  '2488842 8422248 04lel40 044v440 0000c48 000v000 00000cc 01248g0',
  'ehjlphe 4c4444e eh1248v v2421he 26aiv22 vgu11he 68guhhe v124888',
  'ehhehhe ehhf12c 0cc0cc0 0cc0c48 248g842 00v0v00 8421248 eh12404',
  'eh1dlle ehhhvhh uhhuhhu ehggghe sihhhis vgguggv vgguggg ehgnhhf',
  'hhhvhhh e44444e 72222ic hikokih ggggggv hrllhhh hhpljhh ehhhhhe',
  'uhhuggg ehhhlid uhhukih fgge11u v444444 hhhhhhe hhhhha4 hhhllla',
  'hha4ahh hhha444 v1248gv e88888e 0g84210 e22222e 4ah0000 000000v',
  '8420000 00e1fhf ggmphhu 00egghe 11djhhf 00ehvge 698s888 0fhhf1e',
  'ggmphhh 40c444e 20622ic ggikoki c44444e 00qllhh 00mphhh 00ehhhe',
  '00uhugg 00djf11 00mpggg 00ege1u 88s8896 00hhhjd 00hhha4 00hhlla',
  '00ha4ah 00hhf1e 00v248v 2448442 4444444 8442448 008l200',
].join(' ').split(' ');

const GLYPH_W = 5;
const GLYPH_H = 7;
const ADVANCE = GLYPH_W + 1; // one column of spacing

/** Width in pixels of `text` drawn at `scale`. */
export function textWidth(text: string, scale = 1): number {
  return text.length ? (text.length * ADVANCE - 1) * scale : 0;
}

/** Draws `text` with its top-left corner at (x, y), clipped to the image; unknown characters draw as '?'. */
export function drawText(img: RgbImage, text: string, x: number, y: number, color: Rgb, scale = 1): void {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const glyph = FONT[code >= 32 && code < 127 ? code - 32 : '?'.charCodeAt(0) - 32];
    for (let row = 0; row < GLYPH_H; row++) {
      const bits = parseInt(glyph[row], 32);
      for (let col = 0; col < GLYPH_W; col++) {
        if (!(bits & (1 << (GLYPH_W - 1 - col)))) continue;
        fillRect(img, x + (i * ADVANCE + col) * scale, y + row * scale, scale, scale, color);
      }
    }
  }
}

function fillRect(img: RgbImage, x0: number, y0: number, w: number, h: number, color: Rgb): void {
  for (let y = Math.max(y0, 0); y < Math.min(y0 + h, img.height); y++) {
    for (let x = Math.max(x0, 0); x < Math.min(x0 + w, img.width); x++) img.data.set(color, (y * img.width + x) * 3);
  }
}

/** Copies `src` into `dst` with its top-left corner at (x, y); it must fit. */
export function paste(dst: RgbImage, src: RgbImage, x: number, y: number): void {
  if (x < 0 || y < 0 || x + src.width > dst.width || y + src.height > dst.height) {
    throw new Error(`cannot paste a ${src.width}x${src.height} image at (${x}, ${y}) into ${dst.width}x${dst.height}`);
  }
  for (let row = 0; row < src.height; row++) {
    dst.data.set(src.data.subarray(row * src.width * 3, (row + 1) * src.width * 3), ((y + row) * dst.width + x) * 3);
  }
}

export interface SideBySideOptions {
  /** Font pixel size in image pixels (default 2: 10x14 glyphs). */
  scale?: number;
  /** Space between panels in pixels (default 4). */
  gap?: number;
  background?: Rgb;
  textColor?: Rgb;
}

/**
 * Panels in a horizontal strip, each under a label bar with its label centered (clipped if wider than
 * the panel). Panels of different heights are top-aligned on the background colour.
 */
export function sideBySide(images: RgbImage[], labels: string[], opts: SideBySideOptions = {}): RgbImage {
  if (images.length === 0) throw new Error('sideBySide: no images');
  if (labels.length !== images.length) throw new Error(`sideBySide: ${images.length} images but ${labels.length} labels`);
  const { scale = 2, gap = 4, background = [255, 255, 255], textColor = [0, 0, 0] } = opts;
  const pad = 2 * scale;
  const bar = GLYPH_H * scale + 2 * pad;
  const width = images.reduce((s, im) => s + im.width, 0) + gap * (images.length - 1);
  const height = bar + Math.max(...images.map((im) => im.height));
  const out = createImage(width, height, background);
  let x = 0;
  images.forEach((im, i) => {
    checkImage(im);
    paste(out, im, x, bar);
    // draw into a panel-wide label image so that long labels are clipped at the panel's edge
    const label = createImage(im.width, bar, background);
    drawText(label, labels[i], Math.max(Math.floor((im.width - textWidth(labels[i], scale)) / 2), pad), pad, textColor, scale);
    paste(out, label, x, 0);
    x += im.width + gap;
  });
  return out;
}
