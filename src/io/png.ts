// PNG files <-> RgbImage, with pngjs. Reading accepts any PNG (grayscale, palette, alpha, 1 to 16 bits)
// and reduces it to 8-bit RGB, saying in `warnings` what was lost, since the models only see RGB.
// Writing is atomic (a temporary file renamed into place) and refuses to overwrite unless forced, so an
// interrupted or mistaken run never leaves a half-written or clobbered picture.

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PNG, type PNGWithMetadata } from 'pngjs';
import { checkImage, type RgbImage } from './image.js';

export type { RgbImage } from './image.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function readPng(path: string): { image: RgbImage; warnings: string[] } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(err.code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${err.message})`);
  }
  if (bytes.length < SIGNATURE.length || !bytes.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw new Error(`${path}: not a PNG file (no PNG signature)`);
  }
  let png: PNGWithMetadata & { transColor?: number[] };
  try {
    // pngjs expands every format to 8-bit RGBA; 16-bit samples become floor(v * 255 / 65535 + 0.5),
    // which is round(v / 257)
    png = PNG.sync.read(bytes);
  } catch (e) {
    throw new Error(`${path}: truncated or corrupt PNG (${(e as Error).message})`);
  }

  const warnings: string[] = [];
  if (png.depth === 16) warnings.push(`${path} is a 16-bit PNG; it was converted to 8 bits (round(v / 257)), so precision was reduced`);
  if (png.alpha) warnings.push(`${path} has an alpha channel; it was dropped (composited on nothing)`);

  // A tRNS colour key (grayscale/RGB only) makes pngjs zero matching pixels, colour included; to drop
  // alpha rather than paint those pixels black, put back the key colour wherever alpha came out 0.
  let key: number[] | undefined;
  if (png.transColor) {
    const scale = (v: number) => Math.floor((v * 255) / (2 ** png.depth - 1) + 0.5);
    const tc = png.transColor.map(scale);
    key = tc.length === 1 ? [tc[0], tc[0], tc[0]] : tc;
  }

  const { width, height, data: rgba } = png;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < data.length; i += 4, j += 3) {
    if (key && rgba[i + 3] === 0) data.set(key, j);
    else {
      data[j] = rgba[i];
      data[j + 1] = rgba[i + 1];
      data[j + 2] = rgba[i + 2];
    }
  }
  return { image: { width, height, data }, warnings };
}

/**
 * Writes an 8-bit RGB PNG. Refuses to replace an existing file unless `force`. The bytes go to
 * `path.<pid>.tmp` first and are renamed into place, so readers never see a partial file; the temporary
 * file is removed if anything fails.
 */
export function writePng(path: string, image: RgbImage, opts: { force?: boolean } = {}): void {
  checkImage(image);
  if (!opts.force && existsSync(path)) throw new Error(`${path} already exists; use --force to overwrite it`);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const png = new PNG({ width: image.width, height: image.height });
    png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
    // inputColorType 2 = the buffer is RGB without alpha; colorType 2 = store RGB
    writeFileSync(tmp, PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`${path}: cannot write PNG (${(e as Error).message})`);
  }
}

/** Bytes of the image as a PNG (what "the image file" costs, to compare with the latent). */
export function pngBytes(img: RgbImage): number {
  const png = new PNG({ width: img.width, height: img.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(img.data);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }).length;
}
