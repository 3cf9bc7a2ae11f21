// Folders in, folders out (src/collection*.ts through the CLI), with the tiny model pair that shares
// one latent space (test/fixtures/tiny-pair: a 4-level tiny SD VAE; the tiny consistency decoder;
// the tiny TAESD). The folder holds small PNGs of two sizes, an RGBA one and a corrupt one.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCompare } from '../../src/cli/compare.js';
import { runDecode } from '../../src/cli/decode.js';
import { runEncode } from '../../src/cli/encode.js';
import { batchesBySize, listInputs, outputNames, sha256File, stem, type CollectionIndex } from '../../src/collection.js';
import { createImage } from '../../src/io/image.js';
import { readLatentFile } from '../../src/io/latents.js';
import { readPng, writePng } from '../../src/io/png.js';
import { FIXTURES } from '../helpers.js';

const PAIR_VAE = join(import.meta.dirname, '../fixtures/tiny-pair/vae');
const CONS = join(FIXTURES, 'models/tiny-consistency');
const TAESD = join(FIXTURES, 'models/tiny-taesd');
const ROOT = join(import.meta.dirname, '../..');
let dir: string;
let out: string[];
let err: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdvae-coll-'));
  out = [];
  err = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

/** A smooth test picture (so the tiny models' PSNR is finite and images differ from each other). */
function picture(w: number, h: number, seed: number) {
  const im = createImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) im.data[(y * w + x) * 3 + c] = (x * 7 + y * 5 * (c + 1) + seed * 40) % 256;
  return im;
}

/** a, b, c: 16x16 RGB; d: 16x16 RGBA; e: 24x16 RGB; bad: not a PNG. */
function makeFolder(): string {
  const src = join(dir, 'src');
  mkdirSync(src);
  ['a', 'b', 'c'].forEach((n, i) => writePng(join(src, `${n}.png`), picture(16, 16, i)));
  const rgba = new PNG({ width: 16, height: 16 });
  const p = picture(16, 16, 3);
  for (let i = 0; i < 256; i++) {
    for (let c = 0; c < 3; c++) rgba.data[i * 4 + c] = p.data[i * 3 + c];
    rgba.data[i * 4 + 3] = 255;
  }
  writeFileSync(join(src, 'd.png'), PNG.sync.write(rgba));
  writePng(join(src, 'e.png'), picture(24, 16, 4));
  writeFileSync(join(src, 'bad.png'), Buffer.from('\x89PNG\r\n\x1a\nthis is not a png'));
  return src;
}
const index = (d: string): CollectionIndex => JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
const mtimes = (d: string, names: string[]) => names.map((n) => statSync(join(d, n)).mtimeMs);
const LATENTS = ['a', 'b', 'c', 'd', 'e'].map((n) => `${n}.latent.safetensors`);

describe('sdvae encode DIR -o LATENTS_DIR', () => {
  it('batches equal sizes, skips the corrupt image, writes the index and the summary (--report)', async () => {
    const src = makeFolder();
    const lat = join(dir, 'lat');
    expect(await runEncode([src, '--vae', PAIR_VAE, '-o', lat, '--batch', '3', '--report', '--taesd', TAESD])).toBe(1); // one image failed
    const idx = index(lat);
    expect(idx.entries.map((e) => e.output).sort()).toEqual(LATENTS);
    expect(idx.failed.map((f) => f.source)).toEqual([join(src, 'bad.png')]);
    expect(idx.failed[0].error).toMatch(/bad\.png/);
    for (const e of idx.entries) {
      expect(e.sha256).toBe(sha256File(join(lat, e.output)));
      expect(e.model).toBe('AutoencoderKL:vae');
      expect(e.precision).toBe('fp16');
      expect(e.size).toEqual(e.source.endsWith('e.png') ? [24, 16] : [16, 16]);
      expect(e.latent_shape).toEqual(e.source.endsWith('e.png') ? [1, 4, 2, 3] : [1, 4, 2, 2]);
      expect(e.source_bytes).toBe(statSync(e.source).size);
      expect(Object.keys(e.quality!)).toEqual(['SD VAE', 'TAESD']);
    }
    const s = idx.summary!;
    expect([s.images, s.done_now, s.skipped, s.failed]).toEqual([5, 5, 0, 1]);
    expect(s.png_bytes).toBe(idx.entries.reduce((a, e) => a + e.source_bytes, 0));
    expect(s.output_bytes.fp16).toBe(LATENTS.reduce((a, n) => a + statSync(join(lat, n)).size, 0));
    expect(s.ratio).toBeCloseTo(s.png_bytes / s.output_bytes.fp16, 10);
    const worst = Math.min(...idx.entries.map((e) => e.quality!['SD VAE'].psnr));
    expect(s.quality!['SD VAE'].worst.psnr).toBe(worst);
    expect(Number.isFinite(s.quality!.TAESD.psnr_mean)).toBe(true);
    // Four 16x16 images in batches of at most 3, the 24x16 one alone; progress with rate and time left.
    const log = err.join('');
    expect(log).toMatch(/16x16 x3/);
    expect(log).toMatch(/16x16 x1/);
    expect(log).toMatch(/24x16 x1/);
    expect(log).toMatch(/\[6\/6\] .* img\/s, \d+ s left/);
    expect(log).toMatch(/skipped .*bad\.png/);
    expect(out.join('\n')).toMatch(/5 images \(5 encoded now, 0 already done, 1 failed\)/);
    expect(out.join('\n')).toMatch(/SD VAE: PSNR mean .* dB, SSIM mean .*; worst /);

    // Batched latents equal those encoded one at a time.
    const one = join(dir, 'one');
    await runEncode([join(src, '?.png'), '--vae', PAIR_VAE, '-o', one]);
    for (const n of LATENTS) expect(readLatentFile(join(one, n)).data).toEqual(readLatentFile(join(lat, n)).data);
  });

  it('a rerun redoes nothing; an input made newer is redone; another model is refused without --force', async () => {
    const src = makeFolder();
    const lat = join(dir, 'lat');
    await runEncode([src, '--vae', PAIR_VAE, '-o', lat]);
    const before = mtimes(lat, LATENTS);
    out = [];
    await runEncode([src, '--vae', PAIR_VAE, '-o', lat]);
    expect(mtimes(lat, LATENTS)).toEqual(before);
    expect(index(lat).summary!.skipped).toBe(5);
    expect(out.join('\n')).toMatch(/0 encoded now, 5 already done/);

    const future = new Date(Date.now() + 60_000);
    utimesSync(join(src, 'b.png'), future, future);
    await runEncode([src, '--vae', PAIR_VAE, '-o', lat]);
    const after = mtimes(lat, LATENTS);
    expect(after.filter((t, i) => t !== before[i]).length).toBe(1);
    expect(after[1]).not.toBe(before[1]);

    await expect(runEncode([src, '--consistency', CONS, '-o', lat])).rejects.toThrow(/existing output\(s\) in .* were not made by this model and precision; use --force[\s\S]*a\.latent\.safetensors: made by AutoencoderKL:vae as fp16/);
    await expect(runEncode([src, '--vae', PAIR_VAE, '-o', lat, '--precision', 'u8'])).rejects.toThrow(/made by AutoencoderKL:vae as fp16/);
    expect(await runEncode([src, '--vae', PAIR_VAE, '-o', lat, '--precision', 'u8', '--force'])).toBe(1);
    expect(index(lat).entries.every((e) => e.precision === 'u8')).toBe(true);
  });

  it('killed mid-run (SIGKILL after 2 outputs), the rerun completes without redoing finished files', async () => {
    const src = makeFolder();
    const lat = join(dir, 'lat');
    const child = spawnSync(join(ROOT, 'node_modules/.bin/vite-node'), [join(ROOT, 'src/cli/main.ts'), 'encode', src, '--vae', PAIR_VAE, '-o', lat], {
      cwd: ROOT,
      env: { ...process.env, SDVAE_TEST_KILL_AFTER: '2' },
      encoding: 'utf8',
    });
    expect(child.signal).toBe('SIGKILL');
    const done = LATENTS.filter((n) => existsSync(join(lat, n)));
    expect(done.length).toBe(2);
    const before = mtimes(lat, done);
    expect(await runEncode([src, '--vae', PAIR_VAE, '-o', lat])).toBe(1); // bad.png still fails
    expect(mtimes(lat, done)).toEqual(before);
    const s = index(lat).summary!;
    expect([s.images, s.done_now, s.skipped]).toEqual([5, 3, 2]);
    expect(index(lat).entries.map((e) => e.output).sort()).toEqual(LATENTS);
  }, 60_000);
});

describe('folder arguments', () => {
  it('bad arguments are refused by name, before any work', async () => {
    const src = makeFolder();
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    await expect(runEncode([src, '--vae', PAIR_VAE, '-o', file])).rejects.toThrow(/-o .*a-file: is a file; a folder of inputs is written into an output folder/);
    await expect(runEncode([src, '--vae', PAIR_VAE, '-o', join(dir, 'o'), '--batch', '0'])).rejects.toThrow(/--batch: expected an integer from 1 to 1024, got "0"/);
    await expect(runEncode([join(src, 'a.png'), '--vae', PAIR_VAE, '-o', join(dir, 'a.latent.safetensors'), '--batch', '2'])).rejects.toThrow(/--batch, --report and --taesd apply to folders/);
    await expect(runEncode([src, '--vae', PAIR_VAE, '-o', join(dir, 'o'), '--sample'])).rejects.toThrow(/--sample is for single images/);
    await expect(runEncode([src, '--vae', PAIR_VAE, '-o', join(dir, 'o'), '--taesd', TAESD])).rejects.toThrow(/--taesd needs --report/);
    await expect(runDecode([src, '--vae', PAIR_VAE, '--taesd', TAESD, '--preview', '-o', join(dir, 'p')])).rejects.toThrow(/a folder is decoded with one of --vae, --consistency or --taesd/);
    await expect(runDecode([join(dir, 'none'), '--vae', PAIR_VAE, '-o', join(dir, 'p')])).rejects.toThrow(/none: cannot open/);
    expect(existsSync(join(dir, 'o'))).toBe(false);
  });
});

describe('sdvae decode LATENTS_DIR -o OUT_DIR', () => {
  it('decodes every latent (batched as decoded alone), indexes them, skips them on a rerun', async () => {
    const src = makeFolder();
    const lat = join(dir, 'lat');
    await runEncode([src, '--vae', PAIR_VAE, '-o', lat, '--precision', 'fp32']);
    const png = join(dir, 'png');
    expect(await runDecode([lat, '--vae', PAIR_VAE, '-o', png, '--batch', '4'])).toBe(0);
    const idx = index(png);
    expect(idx.kind).toBe('images');
    expect(idx.entries.map((e) => e.output).sort()).toEqual(['a.png', 'b.png', 'c.png', 'd.png', 'e.png']);
    expect(readPng(join(png, 'e.png')).image.width).toBe(24);
    const single = join(dir, 'a-alone.png');
    await runDecode([join(lat, 'a.latent.safetensors'), '--vae', PAIR_VAE, '-o', single]);
    expect(readPng(join(png, 'a.png')).image.data).toEqual(readPng(single).image.data);
    expect(err.join('')).toMatch(/2x2 latents x4/);

    const before = mtimes(png, ['a.png', 'e.png']);
    await runDecode([lat, '--vae', PAIR_VAE, '-o', png]);
    expect(mtimes(png, ['a.png', 'e.png'])).toEqual(before);
    await expect(runDecode([lat, '--taesd', TAESD, '-o', png])).rejects.toThrow(/a\.png: decoded by AutoencoderKL:vae/);

    // --report: each decode against its original (found through the latent's recorded source).
    out = [];
    const t = join(dir, 'taesd');
    expect(await runDecode([lat, '--taesd', TAESD, '-o', t, '--report'])).toBe(0);
    const tIdx = index(t);
    const a = readPng(join(src, 'a.png')).image;
    const { psnr } = await import('../../src/metrics/psnr.js');
    expect(tIdx.entries.find((e) => e.output === 'a.png')!.quality!.TAESD.psnr).toBe(psnr(a, readPng(join(t, 'a.png')).image));
    expect(tIdx.summary!.quality!.TAESD.worst.psnr).toBe(Math.min(...tIdx.entries.map((e) => e.quality!.TAESD.psnr)));
    expect(out.join('\n')).toMatch(/TAESD: PSNR mean .* dB/);
  });
});

describe('sdvae compare DIR', () => {
  it('compares every readable image with three decoders, skips the corrupt one, summarises mean and worst', async () => {
    const src = makeFolder();
    const o = join(dir, 'cmp');
    expect(await runCompare([src, '--vae', PAIR_VAE, '--consistency', CONS, '--taesd', TAESD, '--steps', '1', '-o', o])).toBe(1);
    const reports = JSON.parse(readFileSync(join(o, 'report.json'), 'utf8'));
    expect(reports.map((r: { image: string }) => r.image)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const summary = JSON.parse(readFileSync(join(o, 'summary.json'), 'utf8'));
    expect(summary.images).toBe(5);
    expect(summary.failed.map((f: { source: string }) => f.source)).toEqual([join(src, 'bad.png')]);
    expect(Object.keys(summary.quality)).toEqual(['SD VAE', 'Consistency', 'TAESD']);
    const taesdPsnr = reports.map((r: { decoders: { psnr: number }[] }) => r.decoders[2].psnr);
    expect(summary.quality.TAESD.worst.psnr).toBe(Math.min(...taesdPsnr));
    expect(summary.quality.TAESD.psnr_mean).toBeCloseTo(taesdPsnr.reduce((a: number, b: number) => a + b, 0) / 5, 10);
    expect(out.join('\n')).toMatch(/5 images compared, 1 skipped/);
  }, 60_000);
});

describe('collection helpers', () => {
  it('lists folders and file-name globs, and refuses what matches nothing', () => {
    const src = makeFolder();
    expect(listInputs([src], '.png').map((p) => p.slice(src.length + 1))).toEqual(['a.png', 'b.png', 'bad.png', 'c.png', 'd.png', 'e.png']);
    expect(listInputs([join(src, '?.png')], '.png').length).toBe(5);
    expect(() => listInputs([join(src, 'z*.png')], '.png')).toThrow(/z\*\.png: matches no file/);
    expect(() => listInputs([join(dir, 'nope')], '.png')).toThrow(/nope: no such file or folder/);
    expect(() => listInputs([join(dir, '*', 'a.png')], '.png')).toThrow(/only supported in the file name/);
  });

  it('refuses two inputs that would write the same output', () => {
    expect(() => outputNames(['x/a.png', 'y/a.png'], (i) => `${stem(i)}.latent.safetensors`)).toThrow(/x\/a\.png and y\/a\.png would both be written as a\.latent\.safetensors/);
    expect(stem('d/a.latent.safetensors')).toBe('a');
  });

  it('groups equal sizes and cuts them into batches', () => {
    expect(batchesBySize([1, 2, 3, 4, 5, 6, 7], (n) => (n % 2 ? 'odd' : 'even'), 2)).toEqual([[1, 3], [5, 7], [2, 4], [6]]);
  });
});

describe('index.json reader (untrusted file)', () => {
  it('gives a clear error, never a crash, for malformed indexes (fuzzed)', async () => {
    const { readIndex } = await import('../../src/collection.js');
    const good = JSON.stringify({ format: 'sdvae-collection', version: 1, kind: 'latents', entries: [{ source: 's.png', output: 's.latent.safetensors', model: 'm', precision: 'fp16', sha256: 'x' }], failed: [] });
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n);
    const variants = ['', 'null', '[]', '{}', '{"format":"sdvae-collection","entries":{}}', '{"format":"sdvae-collection","kind":"latents","entries":[null]}', '{"format":"sdvae-collection","kind":"latents","entries":[{"output":3}]}'];
    for (let i = 0; i < 200; i++) {
      const b = Buffer.from(good);
      const cut = rnd(b.length);
      const mode = rnd(3);
      if (mode === 0) variants.push(good.slice(0, cut));
      else if (mode === 1) variants.push(good.slice(0, cut) + String.fromCharCode(rnd(128)) + good.slice(cut + 1));
      else variants.push(good.replace(/"(model|output|sha256)":"[^"]*"/, `"$1":${['1', 'null', '[]', '{}'][rnd(4)]}`));
    }
    for (const v of variants) {
      const d = mkdtempSync(join(tmpdir(), 'sdvae-idx-'));
      writeFileSync(join(d, 'index.json'), v);
      try {
        const idx = readIndex(d, 'latents');
        // Accepted: then it is a well-formed index.
        expect(idx.entries.every((e) => typeof e.output === 'string' && typeof e.model === 'string')).toBe(true);
      } catch (e) {
        expect(e).not.toBeInstanceOf(TypeError);
        expect((e as Error).message).toContain(join(d, 'index.json'));
      }
    }
  });
});
