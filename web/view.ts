// Drawing for the page: RGB images and activations on canvases, tables. Nothing here touches the GPU.
//
// An activation [1, H, W, C] (NHWC, as the library keeps it) is drawn as a grid of C grey thumbnails, each
// channel normalised to its own min..max so that structure shows whatever its scale; the numbers
// (mean/std/min/max of the whole tensor) go beside it, as `sdvae inspect` prints them.

import type { RgbImage } from '../src/core.js';

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, children: (Node | string)[] = []): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** An RGB image on a canvas, enlarged `scale` times (CSS size; pixels stay sharp). */
export function imageCanvas(img: RgbImage, scale = 1): HTMLCanvasElement {
  const c = el('canvas', { width: img.width, height: img.height });
  const rgba = new ImageData(img.width, img.height);
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    rgba.data[j] = img.data[i];
    rgba.data[j + 1] = img.data[i + 1];
    rgba.data[j + 2] = img.data[i + 2];
    rgba.data[j + 3] = 255;
  }
  c.getContext('2d')!.putImageData(rgba, 0, 0);
  c.style.width = `${img.width * scale}px`;
  return c;
}

export function figure(canvas: HTMLCanvasElement, caption: string): HTMLElement {
  return el('figure', {}, [canvas, el('figcaption', { textContent: caption })]);
}

/** A decoded picture's pixels (alpha dropped, no colour conversion: the same bytes as a PNG decoder gives). */
export async function fileToImage(file: Blob): Promise<RgbImage> {
  const bmp = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  const rgba = ctx.getImageData(0, 0, bmp.width, bmp.height).data;
  const data = new Uint8Array(bmp.width * bmp.height * 3);
  for (let i = 0, j = 0; j < data.length; i += 4, j += 3) {
    data[j] = rgba[i];
    data[j + 1] = rgba[i + 1];
    data[j + 2] = rgba[i + 2];
  }
  return { width: bmp.width, height: bmp.height, data };
}

export async function pngBlob(img: RgbImage): Promise<Blob> {
  const c = imageCanvas(img);
  return new Promise((ok, fail) => c.toBlob((b) => (b ? ok(b) : fail(new Error('the browser could not encode a PNG'))), 'image/png'));
}

/** One grey picture per channel of an NCHW latent [1, C, h, w], each normalised to its min..max. */
export function latentChannelCanvases(data: Float32Array, [, c, h, w]: readonly number[], scale: number): HTMLElement[] {
  const out: HTMLElement[] = [];
  for (let ch = 0; ch < c; ch++) {
    const plane = data.subarray(ch * h * w, (ch + 1) * h * w);
    const { min, max } = range(plane);
    out.push(figure(greyCanvas(plane, w, h, min, max, scale), `channel ${ch}: ${min.toFixed(2)}..${max.toFixed(2)}`));
  }
  return out;
}

/** The channels of an NHWC activation [1, H, W, C] as a grid of normalised thumbnails (at most `maxChannels`). */
export function channelGrid(data: Float32Array, shape: readonly number[], maxChannels = 32): HTMLCanvasElement {
  const [, H, W, C] = shape.length === 4 ? shape : [1, 1, shape[shape.length - 1], 1];
  const shown = Math.min(C, maxChannels);
  const cols = Math.ceil(Math.sqrt(shown));
  const rows = Math.ceil(shown / cols);
  const pad = 1;
  const canvas = el('canvas', { width: cols * (W + pad), height: rows * (H + pad) });
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const plane = new Float32Array(H * W);
  for (let ch = 0; ch < shown; ch++) {
    for (let i = 0; i < H * W; i++) plane[i] = data[i * C + ch];
    const { min, max } = range(plane);
    ctx.putImageData(greyData(plane, W, H, min, max), (ch % cols) * (W + pad), Math.floor(ch / cols) * (H + pad));
  }
  const scale = Math.max(1, Math.floor(32 / Math.max(H, 1))); // thumbnails about 32 px high
  canvas.style.width = `${canvas.width * scale}px`;
  return canvas;
}

function greyCanvas(plane: Float32Array, w: number, h: number, min: number, max: number, scale: number): HTMLCanvasElement {
  const c = el('canvas', { width: w, height: h });
  c.getContext('2d')!.putImageData(greyData(plane, w, h, min, max), 0, 0);
  c.style.width = `${w * scale}px`;
  return c;
}

function greyData(plane: Float32Array, w: number, h: number, min: number, max: number): ImageData {
  const img = new ImageData(w, h);
  const k = max > min ? 255 / (max - min) : 0;
  for (let i = 0; i < w * h; i++) {
    const v = Math.round((plane[i] - min) * k);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  return img;
}

function range(a: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

export function table(head: string[], rows: (string | number | Node)[][]): HTMLTableElement {
  const cell = (tag: 'td' | 'th', v: string | number | Node) => el(tag, {}, [typeof v === 'object' ? v : String(v)]);
  return el('table', {}, [el('tr', {}, head.map((h) => cell('th', h))), ...rows.map((r) => el('tr', {}, r.map((v) => cell('td', v))))]);
}

/** Offers `blob` as a download named `name`. */
export function download(blob: Blob, name: string): void {
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export const kib = (n: number) => (n < 1024 ? `${n} B` : n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);
