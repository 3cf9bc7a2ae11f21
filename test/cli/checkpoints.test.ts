// The command line on PyTorch checkpoints: check --model FILE.ckpt / decoder.pt, convert, and the
// consistency sampler default for decoder.pt.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCheck } from '../../src/cli/check.js';
import { runConvert } from '../../src/cli/convert.js';
import { runDecode } from '../../src/cli/decode.js';
import { runEncode } from '../../src/cli/encode.js';
import { readPng } from '../../src/io/png.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { FIXTURES } from '../helpers.js';

const CKPTS = join(import.meta.dirname, '..', 'fixtures', 'checkpoints');
const VAE_IO = join(FIXTURES, 'models/tiny-vae/io.safetensors');
const CD_DIR = join(FIXTURES, 'models/tiny-consistency');
const CD_IO = join(CD_DIR, 'io.safetensors');
const DECODER_PT = join(CKPTS, 'tiny-consistency-decoder.pt');
const IMG = join(import.meta.dirname, '../fixtures/images/gt1.png');
let dir: string;
let out: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdvae-ckpt-cli-'));
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

describe('sdvae check --model on PyTorch files', () => {
  it('the Lightning .ckpt and the legacy .vae.pt pass every tiny-vae case', async () => {
    for (const f of ['tiny-vae.ckpt', 'tiny-vae.legacy.vae.pt']) {
      out = [];
      expect(await runCheck(['--model', join(CKPTS, f), VAE_IO]), f).toBe(0);
      expect(out.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
    }
  });

  it('decoder.pt passes the consistency cases, and the encode cases with --encoder', async () => {
    expect(await runCheck(['--model', DECODER_PT, CD_IO])).toBe(1);
    expect(out.filter((l) => l.startsWith('FAIL'))).toEqual(['FAIL  encode *  error: this model cannot run "encode" cases (it runs: consistency_decode)']);
    out = [];
    expect(await runCheck(['--model', DECODER_PT, CD_IO, '--encoder', CD_DIR])).toBe(0);
    expect(out.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
  });
});

describe('sdvae convert', () => {
  it('a .ckpt to one safetensors file with diffusers names that passes the io cases', async () => {
    const o = join(dir, 'vae.safetensors');
    expect(await runConvert([join(CKPTS, 'tiny-vae.ckpt'), '-o', o])).toBe(0);
    const f = SafetensorsFile.open(o);
    const ref = SafetensorsFile.open(join(FIXTURES, 'models/tiny-vae/diffusion_pytorch_model.safetensors'));
    expect(f.names().sort()).toEqual(ref.names().sort());
    for (const n of ref.names()) expect(f.readF32(n), n).toEqual(ref.readF32(n));
    expect(JSON.parse(f.metadata.config)._class_name).toBe('AutoencoderKL');
    f.close();
    ref.close();
    expect(await runCheck(['--model', o, VAE_IO])).toBe(0);
    // Never overwritten without --force; with it, replaced.
    await expect(runConvert([join(CKPTS, 'tiny-vae.ckpt'), '-o', o])).rejects.toThrow(/vae\.safetensors already exists; use --force/);
    expect(await runConvert([join(CKPTS, 'tiny-vae.legacy.vae.pt'), '-o', o, '--force'])).toBe(0);
  });

  it('decoder.pt to a diffusers folder that keeps its OpenAI sampler default and passes the io cases', async () => {
    const o = join(dir, 'cd');
    expect(await runConvert([DECODER_PT, '-o', o])).toBe(0);
    const config = JSON.parse(readFileSync(join(o, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ _class_name: 'ConsistencyDecoderVAE', _source: 'openai-decoder.pt' });
    expect(await runCheck(['--model', o, CD_IO, '--encoder', CD_DIR])).toBe(0);
    // As one file, the config (and so the encoderless model and its sampler default) rides in the metadata.
    const one = join(dir, 'cd.safetensors');
    expect(await runConvert([DECODER_PT, '-o', one])).toBe(0);
    expect(await runCheck(['--model', one, CD_IO, '--encoder', CD_DIR])).toBe(0);
  });

  it('names the file and the problem for a bad input, writing nothing', async () => {
    const bad = join(dir, 'bad.ckpt');
    writeFileSync(bad, 'not a checkpoint at all');
    await expect(runConvert([bad, '-o', join(dir, 'x.safetensors')])).rejects.toThrow(/bad\.ckpt: not a PyTorch file/);
    expect(existsSync(join(dir, 'x.safetensors'))).toBe(false);
    await expect(runConvert([join(CKPTS, 'tiny-vae.ckpt'), '-o', join(dir, 'y.safetensors'), '--strict'])).rejects.toThrow(/tiny-vae\.ckpt.*ModelCheckpoint.*--strict/);
    expect(existsSync(join(dir, 'y.safetensors'))).toBe(false);
  });
});

describe('sdvae decode --consistency decoder.pt', () => {
  it("uses OpenAI's sampler (clamp) by default; --no-clamp gives diffusers' loop", async () => {
    const lat = join(dir, 'a.latent.safetensors');
    expect(await runEncode([IMG, '--consistency', CD_DIR, '-o', lat, '--resize', '32'])).toBe(0);
    const png = (name: string, extra: string[]) => runDecode([lat, '--consistency', DECODER_PT, '-o', join(dir, name), '--seed', '3', ...extra]);
    expect(await png('default.png', [])).toBe(0);
    expect(await png('clamp.png', ['--clamp'])).toBe(0);
    expect(await png('noclamp.png', ['--no-clamp'])).toBe(0);
    const img = (n: string) => readPng(join(dir, n)).image.data;
    expect(img('default.png')).toEqual(img('clamp.png'));
    expect(img('default.png')).not.toEqual(img('noclamp.png'));
    await expect(png('both.png', ['--clamp', '--no-clamp'])).rejects.toThrow(/--clamp or --no-clamp, not both/);
    await expect(runEncode([IMG, '--consistency', DECODER_PT, '-o', join(dir, 'b.latent.safetensors'), '--resize', '32'])).rejects.toThrow(/no encoder.*--vae/);
  });
});
