// TAESD in the command line: `decode --taesd` (the stored SD latent goes in as it is: the result is
// the reference decode of the same latent), `--preview` (TAESD first, then the slow decoder),
// `compare --taesd` (a third decoder column), `check --model` on its io file, and the bad-input paths.
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCheck } from '../../src/cli/check.js';
import { runCompare } from '../../src/cli/compare.js';
import { runDecode } from '../../src/cli/decode.js';
import { nchwToNhwc } from '../../src/gpu/tensor.js';
import { fromTensorData } from '../../src/io/image.js';
import { writeLatentFile } from '../../src/io/latents.js';
import { readPng } from '../../src/io/png.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { resolveTaesdPath } from '../../src/io/taesd_path.js';
import { FIXTURES } from '../helpers.js';

const TAESD = join(FIXTURES, 'models/tiny-taesd');
const CONS = join(FIXTURES, 'models/tiny-consistency');
const PAIR_VAE = join(import.meta.dirname, '../fixtures/tiny-pair/vae');
const IMAGES = join(import.meta.dirname, '../fixtures/images');
let dir: string;
let out: string[];
let err: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdvae-taesd-'));
  out = [];
  err = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

/** The io file's decode input as a stored latent (it is the SD latent × 0.18215, as stored latents are). */
function ioLatentFile(): { path: string; expected: ReturnType<typeof fromTensorData> } {
  const io = readSafetensors(join(TAESD, 'io.safetensors'));
  const latent = io.tensors.get('latent')!;
  const decoded = io.tensors.get('decoded')!;
  const path = join(dir, 'z.latent.safetensors');
  const shape = latent.shape as [number, number, number, number];
  writeLatentFile(path, { data: Float32Array.from(latent.data), shape, precision: 'fp32', meta: { model: 'test', latentSpace: '4ch-f8-scale0.18215', scalingFactor: 0.18215 } });
  const [n, c, h, w] = decoded.shape;
  return { path, expected: fromTensorData(nchwToNhwc(Float32Array.from(decoded.data), [n, c, h, w]), w, h) };
}

describe('sdvae decode --taesd', () => {
  it('decodes a stored latent as diffusers decodes it (within one 8-bit level)', async () => {
    const { path, expected } = ioLatentFile();
    const png = join(dir, 'z.png');
    expect(await runDecode([path, '--taesd', TAESD, '-o', png])).toBe(0);
    const got = readPng(png).image;
    expect([got.width, got.height]).toEqual([40, 24]);
    let worst = 0;
    for (let i = 0; i < got.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - expected.data[i]));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('--preview writes the TAESD decode first, then the consistency decode', async () => {
    const { path } = ioLatentFile();
    const png = join(dir, 'z.png');
    expect(await runDecode([path, '--consistency', CONS, '--taesd', TAESD, '--preview', '--steps', '1', '-o', png])).toBe(0);
    const preview = join(dir, 'z.preview.png');
    expect(existsSync(preview) && existsSync(png)).toBe(true);
    expect(statSync(preview).mtimeMs).toBeLessThanOrEqual(statSync(png).mtimeMs);
    const log = err.join('');
    expect(log.indexOf('TAESD preview')).toBeGreaterThanOrEqual(0);
    expect(log.indexOf('TAESD preview')).toBeLessThan(log.indexOf('step 1/1'));
    // The preview is exactly what --taesd alone writes.
    const alone = join(dir, 'alone.png');
    await runDecode([path, '--taesd', TAESD, '-o', alone]);
    expect(readPng(preview).image.data).toEqual(readPng(alone).image.data);
    expect(readPng(png).image.width).toBe(40);
  });

  it('bad arguments and latents are refused by name', async () => {
    const { path } = ioLatentFile();
    const o = join(dir, 'x.png');
    await expect(runDecode([path, '--consistency', CONS, '--preview', '-o', o])).rejects.toThrow(/--preview needs --taesd/);
    await expect(runDecode([path, '--consistency', CONS, '--taesd', TAESD, '-o', o])).rejects.toThrow(/--taesd with --vae\/--consistency needs --preview/);
    await expect(runDecode([path, '--taesd', TAESD, '--steps', '2', '-o', o])).rejects.toThrow(/apply to --consistency only/);
    // A latent of another latent space (the 2-level tiny VAE's, f2) is not TAESD's.
    const f2 = join(dir, 'f2.latent.safetensors');
    writeLatentFile(f2, { data: new Float32Array(64), shape: [1, 4, 4, 4], precision: 'fp32', meta: { model: 'AutoencoderKL:tiny-vae', latentSpace: '4ch-f2-scale0.18215', scalingFactor: 0.18215 } });
    await expect(runDecode([f2, '--taesd', TAESD, '-o', o])).rejects.toThrow(/latent space 4ch-f2-scale0\.18215.*AutoencoderTiny:tiny-taesd decodes latent space 4ch-f8-scale0\.18215/);
    expect(existsSync(o)).toBe(false);
    expect(() => resolveTaesdPath('madebyollin/taesd', join(dir, 'no-weights'), { HF_HUB_CACHE: join(dir, 'no-cache') })).toThrow(/no-weights\/taesd does not exist; download it with 'sdvae weights fetch taesd'/);
    expect(resolveTaesdPath(TAESD)).toBe(TAESD);
  });
});

describe('TAESD in compare and check', () => {
  it('compare --taesd adds a third decoder column with PSNR/SSIM and time', async () => {
    expect(await runCompare([join(IMAGES, 'gt1.png'), '--vae', PAIR_VAE, '--consistency', CONS, '--taesd', TAESD, '--resize', '64', '--steps', '1', '-o', dir, '--json'])).toBe(0);
    const [r] = JSON.parse(out.join('\n'));
    expect(r.decoders.map((d: { decoder: string }) => d.decoder)).toEqual(['SD VAE', 'Consistency', 'TAESD']);
    const t = r.decoders[2];
    expect(Number.isFinite(t.psnr) && Number.isFinite(t.ssim) && t.seconds > 0).toBe(true);
    expect(readPng(join(dir, 'gt1.taesd.png')).image.width).toBe(64);
    // Four panels per row: Original | SD VAE | Consistency | TAESD.
    expect(readPng(join(dir, 'gt1.compare.png')).image.width).toBeGreaterThanOrEqual(4 * 64);
  });

  it('inspect: one row per entry of both Sequentials, with the class each position holds', async () => {
    const { runInspect } = await import('../../src/cli/inspect.js');
    expect(await runInspect(['--model', TAESD, '--size', '32', '--json'])).toBe(0);
    const rows = JSON.parse(out.join('\n')).modules as { path: string; module: string; shape: number[]; params: number; std: number; flops: number }[];
    const row = (path: string) => rows.find((r) => r.path === path)!;
    // Encoder: conv, (block, stride-2 conv) x3, block, conv to the latent; 32 channels (the tiny config).
    expect(rows[0]).toMatchObject({ path: 'encoder.layers.0', module: 'Conv2d', shape: [1, 32, 32, 32], params: 3 * 32 * 9 + 32 });
    expect(row('encoder.layers.1')).toMatchObject({ module: 'AutoencoderTinyBlock', shape: [1, 32, 32, 32], params: 3 * (32 * 32 * 9 + 32) });
    expect(row('encoder.layers.2')).toMatchObject({ module: 'Conv2d', shape: [1, 32, 16, 16], params: 32 * 32 * 9 });
    expect(row('encoder.layers.8')).toMatchObject({ module: 'Conv2d', shape: [1, 4, 4, 4] });
    // Decoder: the shared ReLU (decoder.layers.1, last called at full size), nearest upsampling, RGB conv.
    expect(row('decoder.layers.1')).toMatchObject({ module: 'ReLU', shape: [1, 32, 32, 32], params: 0 });
    expect(row('decoder.layers.3')).toMatchObject({ module: 'Upsample', shape: [1, 32, 8, 8], params: 0, flops: 0 });
    expect(row('decoder.layers.12')).toMatchObject({ module: 'Conv2d', shape: [1, 3, 32, 32], params: 32 * 3 * 9 + 3 });
    expect(row('decoder.layers.12').flops).toBe(2 * 32 * 32 * 3 * 32 * 9);
    expect(rows.findIndex((r) => r.path.startsWith('decoder.'))).toBeGreaterThan(rows.findIndex((r) => r.path === 'encoder.layers.8'));
    for (const r of rows) expect(r.std).toBeGreaterThan(0);
  });

  it('inspect refuses f16 activations for TAESD, naming the model', async () => {
    const { runInspect } = await import('../../src/cli/inspect.js');
    await expect(runInspect(['--model', TAESD, '--activations', 'f16'])).rejects.toThrow(/tiny-taesd: AutoencoderTiny \(TAESD\) has no f16 activation path/);
  });

  it('check --model runs the tiny TAESD io file (encode and decode, taps)', async () => {
    expect(await runCheck(['--model', TAESD, join(TAESD, 'io.safetensors')])).toBe(0);
    expect(out.filter((l) => l.startsWith('PASS')).length).toBe(24);
    expect(out.at(-1)).toBe('24 passed, 0 failed');
  });
});
