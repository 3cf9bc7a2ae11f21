// PNG reading/writing (every colour type pngjs can produce, plus hand-made palette files) and the image
// helpers: crops, Pillow-exact resize, tensor conversions, comparison strips.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG, type ColorType } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  centerCrop,
  createImage,
  crop,
  fromTensorData,
  resize,
  sideBySide,
  textWidth,
  toTensorData,
  upscaleNearest,
  type RgbImage,
} from '../../src/io/image.js';
import { readPng, writePng } from '../../src/io/png.js';

const IMAGES = join(import.meta.dirname, '..', 'fixtures', 'images');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdvae-png-'));
});

function gradient(width: number, height: number): RgbImage {
  const img = createImage(width, height);
  for (let i = 0; i < width * height; i++) img.data.set([(i * 7) & 255, (i * 13) & 255, (i * 31) & 255], i * 3);
  return img;
}

/** A PNG written by pngjs from `data` laid out as `colorType` (0 gray, 2 RGB, 4 gray+alpha, 6 RGBA). */
function writeWithPngjs(name: string, w: number, h: number, colorType: ColorType, data: Buffer, bitDepth: 8 | 16 = 8): string {
  const png = new PNG({ width: w, height: h });
  png.data = data;
  const path = join(dir, name);
  writeFileSync(path, PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: colorType >= 4, bitDepth }));
  return path;
}

// pngjs cannot write palette images or tRNS chunks, so those files are assembled chunk by chunk
function crc32(bytes: Buffer): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}
/** A PNG file from its header fields, extra chunks (PLTE, tRNS) and unfiltered rows of raw samples. */
function assemble(w: number, h: number, colorType: number, extra: Buffer[], rows: number[][]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, colorType, 0, 0, 0], 8); // 8-bit samples, no interlacing
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', deflateSync(Buffer.from(rows.flatMap((r) => [0, ...r])))), // filter type 0 per row
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('readPng / writePng', () => {
  it('round-trips RGB without warnings', () => {
    const img = gradient(13, 7);
    const path = join(dir, 'rgb.png');
    writePng(path, img);
    const { image, warnings } = readPng(path);
    expect(image).toEqual(img);
    expect(warnings).toEqual([]);
  });

  it('drops alpha from RGBA with a warning naming the file', () => {
    const rgba = Buffer.from([10, 20, 30, 255, 40, 50, 60, 0, 70, 80, 90, 128]);
    const path = writeWithPngjs('rgba.png', 3, 1, 6, rgba);
    const { image, warnings } = readPng(path);
    expect([...image.data]).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90]); // colour kept even where alpha is 0
    expect(warnings).toEqual([`${path} has an alpha channel; it was dropped (composited on nothing)`]);
  });

  it('expands grayscale and gray+alpha to RGB', () => {
    const gray = readPng(writeWithPngjs('gray.png', 2, 2, 0, Buffer.from([0, 100, 200, 255])));
    expect([...gray.image.data]).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
    expect(gray.warnings).toEqual([]);
    const ga = readPng(writeWithPngjs('gray_alpha.png', 2, 1, 4, Buffer.from([7, 255, 9, 0])));
    expect([...ga.image.data]).toEqual([7, 7, 7, 9, 9, 9]);
    expect(ga.warnings[0]).toMatch(/gray_alpha\.png has an alpha channel; it was dropped/);
  });

  it('reduces 16-bit to 8-bit by round(v / 257), with a warning', () => {
    const v16 = [0, 128, 129, 32896, 33024, 65535]; // -> 0, 0 (0.498), 1 (0.502), 128, 128 (128.498), 255
    const path = writeWithPngjs('rgb16.png', 2, 1, 2, Buffer.from(Uint16Array.from(v16).buffer), 16);
    const { image, warnings } = readPng(path);
    expect([...image.data]).toEqual([0, 0, 1, 128, 128, 255]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/rgb16\.png is a 16-bit PNG.*precision was reduced/);
  });

  it('reads palette images, with and without transparency', () => {
    const plte = chunk('PLTE', Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255]));
    const plain = join(dir, 'palette.png');
    writeFileSync(plain, assemble(2, 2, 3, [plte], [[0, 1], [2, 0]]));
    const a = readPng(plain);
    expect([...a.image.data]).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 0, 0]);
    expect(a.warnings).toEqual([]);
    const trns = join(dir, 'palette_trns.png');
    writeFileSync(trns, assemble(2, 1, 3, [plte, chunk('tRNS', Buffer.from([255, 0, 255]))], [[1, 2]]));
    const b = readPng(trns);
    expect([...b.image.data]).toEqual([0, 255, 0, 0, 0, 255]);
    expect(b.warnings[0]).toMatch(/palette_trns\.png has an alpha channel/);
  });

  it('keeps the colour of tRNS colour-keyed pixels (pngjs would zero them)', () => {
    const key = chunk('tRNS', Buffer.from([0, 9, 0, 8, 0, 7])); // 16-bit samples of the colour (9, 8, 7)
    const path = join(dir, 'rgb_trns.png');
    writeFileSync(path, assemble(2, 1, 2, [key], [[9, 8, 7, 1, 2, 3]]));
    const { image, warnings } = readPng(path);
    expect([...image.data]).toEqual([9, 8, 7, 1, 2, 3]);
    expect(warnings).toEqual([`${path} has an alpha channel; it was dropped (composited on nothing)`]);
  });

  it('refuses to overwrite without force, and leaves no temporary file', () => {
    const sub = mkdtempSync(join(dir, 'w-'));
    const path = join(sub, 'out.png');
    writePng(path, gradient(4, 4));
    expect(() => writePng(path, gradient(5, 5))).toThrow(`${path} already exists; use --force to overwrite it`);
    expect(readPng(path).image.width).toBe(4);
    writePng(path, gradient(5, 5), { force: true });
    expect(readPng(path).image.width).toBe(5);
    expect(readdirSync(sub)).toEqual(['out.png']);
  });

  it('removes the temporary file when the final rename fails', () => {
    const sub = mkdtempSync(join(dir, 'fail-'));
    const path = join(sub, 'taken');
    mkdirSync(join(path, 'child'), { recursive: true }); // a non-empty directory cannot be renamed over
    expect(() => writePng(path, gradient(2, 2), { force: true })).toThrow(path);
    expect(readdirSync(sub)).toEqual(['taken']);
  });

  it('rejects bad images before writing', () => {
    const path = join(dir, 'bad.png');
    expect(() => writePng(path, { width: 2, height: 2, data: new Uint8Array(5) })).toThrow('expected 2x2x3');
    expect(existsSync(path)).toBe(false);
  });

  it('errors name the file: missing, not a PNG, truncated', () => {
    const missing = join(dir, 'missing.png');
    expect(() => readPng(missing)).toThrow(`${missing}: no such file`);
    const text = join(dir, 'text.png');
    writeFileSync(text, 'hello, not an image');
    expect(() => readPng(text)).toThrow(`${text}: not a PNG file`);
    const whole = readFileSync(join(IMAGES, 'gt3.png'));
    const cut = join(dir, 'cut.png');
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    expect(() => readPng(cut)).toThrow(`${cut}: truncated or corrupt PNG`);
    const flipped = Buffer.from(whole);
    flipped[40] ^= 0xff; // inside the first chunk: its CRC no longer matches
    const bad = join(dir, 'crc.png');
    writeFileSync(bad, flipped);
    expect(() => readPng(bad)).toThrow(`${bad}: truncated or corrupt PNG`);
  });
});

describe('crops and resize', () => {
  it('centerCrop: largest centered square, or w x h', () => {
    const img = gradient(31, 20);
    const sq = centerCrop(img);
    expect([sq.width, sq.height]).toEqual([20, 20]);
    expect(sq).toEqual(crop(img, 5, 0, 20, 20)); // (31 - 20) // 2 = 5, as Python floors
    expect(centerCrop(img, 10, 4)).toEqual(crop(img, 10, 8, 10, 4));
    expect(() => centerCrop(img, 40)).toThrow('31x20');
  });

  it('crop checks bounds; upscaleNearest repeats pixels', () => {
    const img = gradient(6, 5);
    expect(() => crop(img, 4, 0, 3, 1)).toThrow('does not fit');
    const c = crop(img, 1, 2, 2, 2);
    expect([...c.data.subarray(0, 3)]).toEqual([...img.data.subarray((2 * 6 + 1) * 3, (2 * 6 + 1) * 3 + 3)]);
    const z = upscaleNearest(c, 3);
    expect([z.width, z.height]).toEqual([6, 6]);
    expect([...z.data.subarray((5 * 6 + 5) * 3, (5 * 6 + 5) * 3 + 3)]).toEqual([...c.data.subarray(9, 12)]);
  });

  it.each([
    [17, 11],
    [64, 50],
    [40, 13],
  ])("resize to %ix%i equals Pillow's BICUBIC bit for bit", (w, h) => {
    const src = readPng(join(IMAGES, 'resize_src_40x30.png')).image;
    const expected = readPng(join(IMAGES, `resize_pillow_bicubic_${w}x${h}.png`)).image;
    expect(resize(src, w, h)).toEqual(expected);
  });

  it('resize to the same size copies', () => {
    const img = gradient(8, 8);
    const out = resize(img, 8, 8);
    expect(out).toEqual(img);
    expect(out.data).not.toBe(img.data);
  });

  it('OpenAI load_image: center-crop then resize to 256', () => {
    const gt = readPng(join(IMAGES, 'gt1.png')).image;
    const wide = resize(gt, 384, 300);
    const out = resize(centerCrop(wide), 256, 256);
    expect([out.width, out.height]).toEqual([256, 256]);
  });
});

describe('tensors', () => {
  it('toTensorData: NHWC in [-1, 1] as v / 127.5 - 1 in float32', () => {
    const img: RgbImage = { width: 2, height: 1, data: Uint8Array.from([0, 255, 51, 128, 1, 254]) };
    const t = toTensorData(img);
    expect(t).toBeInstanceOf(Float32Array);
    expect(t.length).toBe(6);
    expect(t[0]).toBe(-1);
    expect(t[1]).toBe(1);
    expect(t[3]).toBe(Math.fround(Math.fround(128 / 127.5) - 1));
  });

  it('fromTensorData clamps, rounds, and inverts toTensorData', () => {
    const out = fromTensorData(Float32Array.from([-2, 2, NaN, 0, -1, 1]), 2, 1);
    expect([...out.data]).toEqual([0, 255, 0, 128, 0, 255]); // 0 -> 127.5 -> 128
    const all = createImage(256, 1);
    for (let v = 0; v < 256; v++) all.data.fill(v, v * 3, v * 3 + 3);
    expect(fromTensorData(toTensorData(all), 256, 1)).toEqual(all);
    expect(() => fromTensorData(new Float32Array(5), 2, 1)).toThrow('expected 1x1x2x3');
  });

  it('fromTensorData rounds exact halves to even, like numpy', () => {
    // find tensor values that land exactly on k + 0.5 after the float32 arithmetic
    let checked = 0;
    for (let k = 0; k < 255; k++) {
      const x = Math.fround((Math.fround((k + 0.5) / 255) - 0.5) * 2);
      const y = Math.fround(Math.fround(Math.fround(x / 2) + 0.5) * 255);
      if (y !== k + 0.5) continue;
      expect(fromTensorData(Float32Array.from([x, x, x]), 1, 1).data[0]).toBe(k % 2 === 0 ? k : k + 1);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });
});

describe('sideBySide', () => {
  it('lays panels out under label bars', () => {
    const a = createImage(20, 10, [255, 0, 0]);
    const b = createImage(30, 16, [0, 0, 255]);
    const strip = sideBySide([a, b], ['SD VAE | 24.2 dB', 'consistency (28.1)'], { scale: 1, gap: 4 });
    const bar = 7 + 4; // glyph height + 2 px padding above and below
    expect([strip.width, strip.height]).toEqual([20 + 4 + 30, bar + 16]);
    const px = (x: number, y: number) => [...strip.data.subarray((y * strip.width + x) * 3, (y * strip.width + x) * 3 + 3)];
    expect(px(0, bar)).toEqual([255, 0, 0]);
    expect(px(24, bar + 15)).toEqual([0, 0, 255]);
    expect(px(5, bar + 12)).toEqual([255, 255, 255]); // below the shorter panel: background
    const labelPixels = (x0: number, x1: number) => {
      let n = 0;
      for (let y = 0; y < bar; y++) for (let x = x0; x < x1; x++) if (px(x, y)[0] === 0) n++;
      return n;
    };
    expect(labelPixels(0, 20)).toBeGreaterThan(20); // clipped to its panel, but drawn
    expect(labelPixels(20, 24)).toBe(0); // nothing spills into the gap
    expect(labelPixels(24, 54)).toBeGreaterThan(20);
    expect(textWidth('abc', 2)).toBe((3 * 6 - 1) * 2);
    expect(() => sideBySide([a], [])).toThrow('1 images but 0 labels');
  });
});
