// The command line, run in-process (each command creates and destroys its own device).
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCheck } from '../../src/cli/check.js';
import { runDecode } from '../../src/cli/decode.js';
import { runEncode } from '../../src/cli/encode.js';
import { readLatentFile, writeLatentFile } from '../../src/io/latents.js';
import { encodeSafetensors } from '../../src/io/safetensors.js';
import { readPng } from '../../src/io/png.js';
import { FIXTURES } from '../helpers.js';

const VAE = join(FIXTURES, 'models/tiny-vae');
const CONS = join(FIXTURES, 'models/tiny-consistency');
const IMG = join(import.meta.dirname, '../fixtures/images/gt1.png');
let dir: string;
let out: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdvae-cli-'));
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

describe('sdvae encode / decode', () => {
  it('round trip with the SD VAE: latent file, metadata, PNG', async () => {
    const lat = join(dir, 'a.latent.safetensors');
    expect(await runEncode([IMG, '--vae', VAE, '-o', lat, '--resize', '32', '--precision', 'fp32'])).toBe(0);
    const stored = readLatentFile(lat);
    expect(stored.shape).toEqual([1, 4, 16, 16]);
    expect(stored.meta.latentSpace).toBe('4ch-f2-scale0.18215');
    expect(stored.meta.sourceSize).toEqual([256, 256]);
    expect(stored.meta.resize).toBe('32x32 bicubic');
    const png = join(dir, 'a.png');
    expect(await runDecode([lat, '--vae', VAE, '-o', png])).toBe(0);
    const { image } = readPng(png);
    expect([image.width, image.height]).toEqual([32, 32]);
    const tiled = join(dir, 'tiled.png'); // the approximate tiled decode (one tile here: the same image)
    expect(await runDecode([lat, '--vae', VAE, '-o', tiled, '--tiled'])).toBe(0);
    expect(readPng(tiled).image.data).toEqual(image.data);
    await expect(runDecode([lat, '--vae', VAE, '-o', join(dir, 't2.png'), '--tiled', '--tile-size', '8'])).rejects.toThrow(/--tile-size and --tile-overlap apply to --consistency DIR --tiled only/);
  });

  it('stores fp16 at half and u8 at a quarter of fp32 (plus per-channel scales)', async () => {
    const sizes: Record<string, number> = {};
    for (const p of ['fp32', 'fp16', 'u8']) {
      const f = join(dir, `${p}.safetensors`);
      expect(await runEncode([IMG, '--vae', VAE, '-o', f, '--resize', '64', '--precision', p])).toBe(0);
      sizes[p] = statSync(f).size;
      expect(readLatentFile(f).precision).toBe(p);
    }
    expect(sizes.fp16).toBeLessThan(sizes.fp32 * 0.6);
    expect(sizes.u8).toBeLessThan(sizes.fp32 * 0.35);
  });

  it('the consistency decoder decodes its own encoder\'s latents, with progress per step', async () => {
    const lat = join(dir, 'c.latent.safetensors');
    expect(await runEncode([IMG, '--consistency', CONS, '-o', lat, '--center-crop', '--resize', '64'])).toBe(0);
    const png = join(dir, 'c.png');
    expect(await runDecode([lat, '--consistency', CONS, '-o', png, '--steps', '1', '--seed', '5'])).toBe(0);
    const lines = (process.stderr.write as unknown as { mock: { calls: string[][] } }).mock.calls.map((c) => c[0]);
    expect(lines.some((l) => l.includes('step 1/1 (t=1008)'))).toBe(true);
    expect(readPng(png).image.width).toBe(64);
    // The tiled decode: one 8-latent tile covers this 64x64 image, so the same seed gives the same PNG;
    // smaller tiles give an image of the same size, with progress per tile.
    const one = join(dir, 'one-tile.png');
    expect(await runDecode([lat, '--consistency', CONS, '-o', one, '--steps', '1', '--seed', '5', '--tiled', '--tile-size', '8'])).toBe(0);
    expect(readPng(one).image.data).toEqual(readPng(png).image.data);
    const tiles = join(dir, 'tiles.png');
    expect(await runDecode([lat, '--consistency', CONS, '-o', tiles, '--seed', '5', '--tiled', '--tile-size', '4', '--tile-overlap', '2'])).toBe(0);
    expect(readPng(tiles).image.width).toBe(64);
    const tileLines = (process.stderr.write as unknown as { mock: { calls: string[][] } }).mock.calls.map((c) => c[0]);
    expect(tileLines.some((l) => l.includes('tile 9/9'))).toBe(true);
    await expect(runDecode([lat, '--consistency', CONS, '-o', join(dir, 'bad.png'), '--tiled', '--tile-size', '4', '--tile-overlap', '4'])).rejects.toThrow(/--tile-overlap \(4\) must be smaller than --tile-size \(4\)/);
    await expect(runDecode([lat, '--consistency', CONS, '-o', join(dir, 'bad.png'), '--tiled', '--tile-size', '2.5'])).rejects.toThrow(/--tile-size: expected an integer from 1/);
    await expect(runDecode([lat, '--consistency', CONS, '-o', join(dir, 'bad.png'), '--tile-size', '4'])).rejects.toThrow(/apply to --consistency DIR --tiled only/);
    expect(existsSync(join(dir, 'bad.png'))).toBe(false);
    // With a memory budget, the tiled decode is planned first (one tile's UNet plus the full-size state).
    await expect(runDecode([lat, '--consistency', CONS, '-o', join(dir, 'bad.png'), '--tiled', '--tile-size', '4', '--memory-budget', '1MiB'])).rejects.toThrow(/in tiles needs \d+ MiB of GPU memory .* To need less: use smaller tiles \(--tile-size\)/);
    expect(existsSync(join(dir, 'bad.png'))).toBe(false);
    expect(await runDecode([lat, '--consistency', CONS, '-o', join(dir, 'budget.png'), '--tiled', '--tile-size', '4', '--memory-budget', '4GiB'])).toBe(0);
  });

  it('bad input: clear errors, nothing overwritten', async () => {
    const lat = join(dir, 'x.latent.safetensors');
    await expect(runEncode([IMG, '--vae', VAE, '-o', lat, '--resize', '33x32'])).rejects.toThrow(/33x32; both sides must be multiples of 2. Use --resize/);
    expect(existsSync(lat)).toBe(false);
    writeFileSync(lat, 'precious');
    await expect(runEncode([IMG, '--vae', VAE, '-o', lat, '--resize', '32'])).rejects.toThrow(/already exists; use --force/);
    expect(readFileSync(lat, 'utf8')).toBe('precious');
    await expect(runEncode([IMG, '-o', lat])).rejects.toThrow(/exactly one of --vae DIR or --consistency DIR/);
    await expect(runEncode([IMG, '--vae', VAE, '-o', lat, '--precision', 'int4'])).rejects.toThrow(/--precision: expected fp32, fp16 or u8/);
    await expect(runDecode([lat, '--vae', VAE, '-o', join(dir, 'y.png')])).rejects.toThrow(/x\.latent\.safetensors/);
  });

  it('refuses a latent from an incompatible model, and NaN latents', async () => {
    const lat = join(dir, 'v.latent.safetensors');
    expect(await runEncode([IMG, '--vae', VAE, '-o', lat, '--resize', '32'])).toBe(0);
    await expect(runDecode([lat, '--consistency', CONS, '-o', join(dir, 'z.png')])).rejects.toThrow(/made by AutoencoderKL:tiny-vae .* decodes latent space 4ch-f8/);
    const stored = readLatentFile(lat);
    stored.data[5] = NaN;
    const bad = join(dir, 'nan.safetensors');
    expect(() => writeLatentFile(bad, stored)).toThrow(/contains NaN \(at index 5\)/);
    const raw = encodeSafetensors({ latent: { dtype: 'F32', shape: stored.shape, data: stored.data } }, { format: 'sdvae-latent', precision: 'fp32', scaling_factor: '0.18215' });
    writeFileSync(bad, raw);
    await expect(runDecode([bad, '--vae', VAE, '-o', join(dir, 'n.png')])).rejects.toThrow(/nan\.safetensors: the latent contains NaN/);
  });
});

describe('sdvae check', () => {
  it('kernel cases: one line per case, exit 0 when all pass', async () => {
    const files = ['conv2d_k3p1_c32to32_16x16', 'group_norm_g32_eps1e-6_c64_8x8_offset50'].map((f) => join(FIXTURES, 'kernels', `${f}.safetensors`));
    expect(await runCheck([...files, '--max-binding-bytes', '65536'])).toBe(0);
    expect(out.filter((l) => l.startsWith('PASS')).length).toBe(2);
    expect(out.at(-1)).toBe('2 passed, 0 failed');
  });

  it('an unknown op or a wrong expected tensor fails with exit 1; --json', async () => {
    const f = join(dir, 'bad.safetensors');
    const x = new Float32Array(4);
    writeFileSync(f, encodeSafetensors({ input: { dtype: 'F32', shape: [1, 1, 2, 2], data: x }, expected: { dtype: 'F32', shape: [1, 1, 2, 2], data: x } }, { op: 'fft2d', params: '{}', atol: '1e-5' }));
    const g = join(dir, 'wrong.safetensors');
    writeFileSync(g, encodeSafetensors({ input: { dtype: 'F32', shape: [1, 1, 2, 2], data: Float32Array.of(1, 2, 3, 4) }, expected: { dtype: 'F32', shape: [1, 1, 2, 2], data: Float32Array.of(1, 2, 3, 5) } }, { op: 'silu', params: '{}', atol: '1e-5' }));
    expect(await runCheck([f, g, '--json'])).toBe(1);
    const report = JSON.parse(out.join('\n'));
    expect(report.failed).toBe(2);
    expect(report.results[0].error).toMatch(/unknown op "fft2d"/);
    expect(report.results[1].maxAbsErr).toBeGreaterThan(1);
  });

  it('--model runs a model io file, taps included', async () => {
    expect(await runCheck(['--model', VAE, join(VAE, 'io.safetensors')])).toBe(0);
    expect(out.some((l) => /PASS\s+decode tap decoder\.mid_block/.test(l))).toBe(true);
    expect(out.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
  });

  it('--weights f16 and bf16-free storage options load and pass; bad values are refused by name', async () => {
    expect(await runCheck(['--model', VAE, join(VAE, 'io.safetensors'), '--weights', 'f32'])).toBe(0);
    out = [];
    // Storing the F32 tiny VAE as f16 changes its numbers by f16 rounding: past the f32 tolerances.
    expect(await runCheck(['--model', VAE, join(VAE, 'io.safetensors'), '--weights', 'f16'])).toBe(1);
    expect(out.some((l) => l.startsWith('FAIL'))).toBe(true);
    await expect(runCheck(['--model', VAE, join(VAE, 'io.safetensors'), '--weights', 'int8'])).rejects.toThrow(/--weights: expected as-stored, f16, f32, got "int8"/);
  });

  it('--activations f16: the tiny consistency decoder passes its io file within the f16 tolerance; refusals are clear', async () => {
    // tiny-consistency's io cases are judged at the f32 tolerances of the file: f16 storage is past them.
    expect(await runCheck(['--model', CONS, join(CONS, 'io.safetensors'), '--activations', 'f16'])).toBe(1);
    out = [];
    await expect(runCheck(['--model', VAE, join(VAE, 'io.safetensors'), '--activations', 'f16'])).rejects.toThrow(/force_upcast: true/);
    await expect(runCheck(['--model', CONS, join(CONS, 'io.safetensors'), '--activations', 'bf16'])).rejects.toThrow(/--activations: expected f32 or f16, got "bf16"/);
    const lat = join(dir, 'f.latent.safetensors');
    expect(await runEncode([IMG, '--consistency', CONS, '-o', lat, '--resize', '32', '--activations', 'f16'])).toBe(0);
    expect(await runDecode([lat, '--consistency', CONS, '-o', join(dir, 'f.png'), '--activations', 'f16', '--steps', '1'])).toBe(0);
    expect(readPng(join(dir, 'f.png')).image.width).toBe(32);
  });

  it('--memory-budget: a decode over budget is refused with what it needs, and nothing is written', async () => {
    const lat = join(dir, 'b.latent.safetensors');
    expect(await runEncode([IMG, '--vae', VAE, '-o', lat, '--resize', '32', '--memory-budget', '4GiB'])).toBe(0);
    const png = join(dir, 'b.png');
    await expect(runDecode([lat, '--vae', VAE, '-o', png, '--memory-budget', '1MiB'])).rejects.toThrow(/needs \d+ MiB of GPU memory .* above the memory budget of 1 MiB\. With Winograd transforms made at each use and direct convolutions it still needs \d+ MiB\. To need less/);
    expect(existsSync(png)).toBe(false);
    await expect(runDecode([lat, '--vae', VAE, '-o', png, '--memory-budget', 'lots'])).rejects.toThrow(/--memory-budget: expected a size such as 6GiB/);
  });

  it('rejects a bad --max-binding-bytes', async () => {
    await expect(runCheck(['x.safetensors', '--max-binding-bytes', 'lots'])).rejects.toThrow(/--max-binding-bytes: expected an integer/);
  });
});
