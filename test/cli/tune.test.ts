// sdvae tune and decode --tune, run in-process on the tiny SD VAE: the dry run finds its conv classes,
// each is measured (only the tiled variant, to keep the test short) and written to the cache file; a
// second run measures nothing; decode --tune cached then runs those winners and gives the rule's image.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runTune, modelConvShapes } from '../../src/cli/tune.js';
import { runDecode } from '../../src/cli/decode.js';
import { runEncode } from '../../src/cli/encode.js';
import { convPolicy } from '../../src/kernels/conv2d.js';
import { convShapeKey, parseTuneFile, tuning } from '../../src/gpu/tune.js';
import { readPng } from '../../src/io/png.js';
import { FIXTURES } from '../helpers.js';
import { TOL } from '../tolerances.js';

const VAE = join(FIXTURES, 'models/tiny-vae');
const IMG = join(import.meta.dirname, '../fixtures/images/gt1.png');
let dir: string;
let out: string[];
// SDVAE_TUNE_FILE, not XDG_CACHE_HOME: a fresh XDG_CACHE_HOME would also empty Mesa's shader cache, and
// lavapipe would compile every pipeline again (minutes on a loaded machine).
const saved = { tune: convPolicy.tune, store: tuning.store, file: process.env.SDVAE_TUNE_FILE };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdvae-tune-cli-'));
  process.env.SDVAE_TUNE_FILE = join(dir, 'cache', 'tune.json');
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
  convPolicy.tune = saved.tune;
  tuning.store = saved.store;
  if (saved.file === undefined) delete process.env.SDVAE_TUNE_FILE;
  else process.env.SDVAE_TUNE_FILE = saved.file;
  rmSync(dir, { recursive: true, force: true });
});

describe('sdvae tune', () => {
  it('collects the tiny VAE conv classes of an encode + decode (dry run)', async () => {
    const keys = (await modelConvShapes(VAE, 16, false)).map(convShapeKey);
    expect(keys).toContain('conv 3->32 k3x3 s1 p1,1,1,1 px256'); // encoder.conv_in at 16x16
    expect(keys).toContain('conv 32->32 k3x3 s2 p0,1,0,1 px64'); // the downsampler
    expect(keys.some((k) => k.includes('k1x1'))).toBe(true); // quant_conv, shortcuts
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('measures, writes the cache and prints the table; a second run measures nothing', async () => {
    const cache = join(dir, 'tune.json');
    expect(await runTune(['--model', VAE, '--size', '16', '--variants', 'tiled', '--cache', cache])).toBe(0);
    const table = out.join('\n');
    expect(table).toContain('| shape | tiled ms | subgroup ms | winograd ms | winograd4 ms | winograd-shared ms | winograd4-shared ms | winner | from |');
    expect(table).toMatch(/\| conv 3->32 k3x3 s1 p1,1,1,1 px256 \| \d+\.\d\d \| - \| - \| - \| - \| - \| tiled \| measured \|/);
    const file = parseTuneFile(readFileSync(cache, 'utf8'), cache);
    const [entry] = Object.values(file.adapters);
    const n = Object.keys(entry.winners).length;
    expect(n).toBeGreaterThan(5);
    out = [];
    expect(await runTune(['--model', VAE, '--size', '16', '--cache', cache])).toBe(0);
    expect(out.join('\n')).not.toContain('| measured |');
    expect(out.join('\n').split('\n').filter((l) => l.includes(`| ${cache} |`)).length).toBe(n);
  });

  it('decode --tune cached runs the cached winners and gives the rule image', async () => {
    const lat = join(dir, 'a.latent.safetensors');
    expect(await runEncode([IMG, '--vae', VAE, '-o', lat, '--resize', '16', '--precision', 'fp32'])).toBe(0);
    // Cache 'tiled' (which the rule never picks on lavapipe) for every class of the decode.
    expect(await runTune(['--model', VAE, '--size', '16', '--variants', 'tiled', '--cache', process.env.SDVAE_TUNE_FILE!])).toBe(0);
    const [ruled, tuned] = [join(dir, 'off.png'), join(dir, 'cached.png')];
    expect(await runDecode([lat, '--vae', VAE, '-o', ruled, '--tune', 'off'])).toBe(0);
    expect(await runDecode([lat, '--vae', VAE, '-o', tuned, '--tune', 'cached'])).toBe(0);
    expect(convPolicy.tune).toBe('cached');
    const [a, b] = [readPng(ruled).image.data, readPng(tuned).image.data];
    // 8-bit images of outputs within TOL.vaeOutput of each other: at most one level apart.
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThanOrEqual(Math.ceil(TOL.vaeOutput * 127.5));
  });

  it('rejects bad arguments by name', async () => {
    await expect(runTune(['--size', '16'])).rejects.toThrow(/--model DIR or --manifest/);
    await expect(runTune(['--model', VAE, '--variants', 'fast'])).rejects.toThrow(/--variants: unknown variant "fast"/);
    await expect(runDecode(['x.safetensors', '--vae', VAE, '-o', join(dir, 'x.png'), '--tune', 'sometimes'])).rejects.toThrow(/--tune: expected off, cached or full, got "sometimes"/);
    await expect(runTune(['--manifest', join(dir, 'missing.json')])).rejects.toThrow(/missing\.json: not a readable JSON manifest/);
  });
});
