// The page end to end in Chromium, served by `sdvae serve`'s server with the tiny model pair
// (test/fixtures/tiny-pair/vae + the reference tiny consistency decoder, one latent space): choose an
// image, encode, store, decode with both decoders and TAESD (drawn first, as a preview); the numbers the page shows equal the CLI's
// (`sdvae compare`) for the same inputs, over Range requests and from a server that ignores Range; a
// second visit downloads no weights (Cache API); a screenshot is saved (artifacts/browser-page.png)
// and must be a real picture. Error paths: no navigator.gpu, a 404 weight URL, a truncated file.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCompare } from '../../src/cli/compare.js';
import { startServe } from '../../src/cli/serve.js';
import type { StaticServer } from '../../src/cli/static_server.js';
import { readLatentFile } from '../../src/io/latents.js';
import { readPng } from '../../src/io/png.js';
import { FIXTURES } from '../helpers.js';
import { TOL } from '../tolerances.js';
import { ROOT, useBrowser } from './chromium.js';

const env = useBrowser();
const IMAGE = join(ROOT, 'test/fixtures/images/gt1.png');
const ARTIFACT = join(ROOT, 'artifacts', 'browser-page.png');
const OPTIONS = { resize: '64', steps: '2', seed: '1', precision: 'fp32' };

let tmp: string;
let models: string;
let ranged: StaticServer;
let plain: StaticServer;
const requests: { server: string; url: string; range?: string }[] = [];

interface PageReport {
  error?: string;
  warnings?: string[];
  adapter: { name: string; kind: string };
  models: Record<string, { mode: string; fromCache: number; bytes: number; prepared: number[] | null }>;
  encode: { shape: number[]; size: [number, number]; latent: number[] };
  decode: { decoders: { decoder: string; psnr: number; ssim: number; ssim_luma: number; pixels: number[] }[] };
  drawn: string[];
}

interface CliResult {
  report: { decoders: { decoder: string; psnr: number; ssim: number; ssim_luma: number }[] };
  latent: Float32Array;
  images: Uint8Array[];
}
let cli: CliResult;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'sdvae-page-'));
  models = join(tmp, 'models');
  mkdirSync(models);
  symlinkSync(join(ROOT, 'test/fixtures/tiny-pair/vae'), join(models, 'tiny-vae'));
  symlinkSync(join(FIXTURES, 'models/tiny-consistency'), join(models, 'tiny-consistency'));
  symlinkSync(join(FIXTURES, 'models/tiny-taesd'), join(models, 'tiny-taesd')); // the same latent space: the preview decoder
  // A model whose weights were cut short (an interrupted upload), and one whose weights are missing.
  for (const name of ['truncated', 'no-weights']) {
    mkdirSync(join(models, name));
    copyFileSync(join(ROOT, 'test/fixtures/tiny-pair/vae/config.json'), join(models, name, 'config.json'));
  }
  const whole = readFileSync(join(ROOT, 'test/fixtures/tiny-pair/vae/diffusion_pytorch_model.safetensors'));
  writeFileSync(join(models, 'truncated', 'diffusion_pytorch_model.safetensors'), whole.subarray(0, whole.length - 4096));
  const web = env().webDir;
  ranged = await startServe({ models, port: 0, ranges: true, web, onRequest: (r) => requests.push({ server: 'ranged', url: r.url, range: r.range }) });
  plain = await startServe({ models, port: 0, ranges: false, web, onRequest: (r) => requests.push({ server: 'plain', url: r.url, range: r.range }) });

  // The CLI on the same inputs.
  const out = join(tmp, 'cli');
  const spy = vi.spyOn(console, 'log').mockImplementation(() => {});
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await runCompare([IMAGE, '--vae', join(models, 'tiny-vae'), '--consistency', join(models, 'tiny-consistency'), '--taesd', join(models, 'tiny-taesd'), '--resize', OPTIONS.resize, '--steps', OPTIONS.steps, '--seed', OPTIONS.seed, '--precision', OPTIONS.precision, '-o', out]);
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
  cli = {
    report: JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))[0],
    latent: readLatentFile(join(out, 'gt1.latent.safetensors')).data,
    images: ['gt1.vae.png', 'gt1.consistency.png', 'gt1.taesd.png'].map((f) => readPng(join(out, f)).image.data),
  };
}, 300_000);

afterAll(async () => {
  await ranged?.close();
  await plain?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function openPage(server: StaticServer, query = '', init?: () => void): Promise<Page> {
  const context = await env().browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => env().log.push(`[${m.type()}] ${m.text()}`));
  if (init) await page.addInitScript(init);
  await page.goto(`${server.url}/${query}`);
  await waitIdle(page);
  return page;
}

/** Waits until the page's last action finished; returns its state (done or error). */
async function waitIdle(page: Page): Promise<string> {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 300_000 });
  return page.evaluate(() => document.body.dataset.state!);
}

async function runPage(page: Page): Promise<PageReport> {
  await page.setInputFiles('#input-file', IMAGE);
  expect(await waitIdle(page)).toBe('done');
  await page.fill('#resize', OPTIONS.resize);
  await page.fill('#steps', OPTIONS.steps);
  await page.fill('#seed', OPTIONS.seed);
  await page.selectOption('#precision', OPTIONS.precision);
  await page.click('#run');
  const state = await waitIdle(page);
  const report = (await page.evaluate(() => (window as unknown as { sdvaeReport: unknown }).sdvaeReport)) as PageReport;
  expect(report.error).toBeUndefined();
  expect(state).toBe('done');
  return report;
}

function expectEqualsCli(r: PageReport): void {
  let maxLatent = 0;
  r.encode.latent.forEach((v, i) => (maxLatent = Math.max(maxLatent, Math.abs(v - cli.latent[i]!))));
  expect(r.encode.latent.length).toBe(cli.latent.length);
  expect(maxLatent).toBeLessThanOrEqual(TOL.crossAdapterLatent);
  expect(r.decode.decoders.map((d) => d.decoder)).toEqual(['SD VAE', 'Consistency', 'TAESD']);
  // TAESD is the preview: drawn alone first, then with the others.
  expect(r.drawn).toEqual(['TAESD', 'SD VAE+Consistency+TAESD']);
  r.decode.decoders.forEach((d, k) => {
    const c = cli.report.decoders[k]!;
    expect(d.decoder).toBe(c.decoder);
    expect(Math.abs(d.psnr - c.psnr)).toBeLessThanOrEqual(TOL.crossAdapterPsnrDb);
    expect(Math.abs(d.ssim - c.ssim)).toBeLessThanOrEqual(1e-3);
    let maxPixel = 0;
    d.pixels.forEach((v, i) => (maxPixel = Math.max(maxPixel, Math.abs(v - cli.images[k]![i]!))));
    expect(d.pixels.length).toBe(cli.images[k]!.length);
    expect(maxPixel).toBeLessThanOrEqual(TOL.crossAdapterPixelLevels);
  });
}

describe('the page, end to end', () => {
  it('over Range requests (compatibility adapter): encode, store, decode with both decoders; numbers equal the CLI; a second visit downloads nothing; screenshot', async () => {
    requests.length = 0;
    const page = await openPage(ranged, '?adapter=compatibility');
    const r = await runPage(page);
    expect(r.adapter.kind).toBe('compatibility');
    expectEqualsCli(r);
    expect(r.models.vae!.mode).toBe('range');
    // Both decoders' first decodes were planned (and their pipelines compiled) while their weights downloaded.
    const [w, h] = r.encode.size;
    expect(r.models.vae!.prepared).toEqual([1, h / 8, w / 8, 4]);
    expect(r.models.cons!.prepared).toEqual([1, h / 8, w / 8, 4]);
    // The numbers shown are the ones computed.
    const shown = await page.$$eval('#metrics tr', (trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent)));
    expect(shown.map((row) => row.slice(0, 4))).toEqual(r.decode.decoders.map((d) => [d.decoder, d.psnr.toFixed(2), d.ssim.toFixed(4), d.ssim_luma.toFixed(4)]));
    const weightRequests = requests.filter((q) => q.url.endsWith('.safetensors'));
    expect(weightRequests.length).toBeGreaterThan(10);
    expect(weightRequests.every((q) => q.range?.startsWith('bytes='))).toBe(true);

    // Inspector: one row per module, with a channel grid each.
    await page.click('#inspect');
    expect(await waitIdle(page)).toBe('done');
    const rows = await page.$$eval('#modules tr', (trs) => trs.slice(1).map((tr) => [tr.children[0]!.textContent, tr.querySelectorAll('canvas').length]));
    expect(rows.map((x) => x[0])).toContain('decoder.up_blocks.0');
    expect(rows.every((x) => x[1] === 1)).toBe(true);

    mkdirSync(join(ROOT, 'artifacts'), { recursive: true });
    await page.screenshot({ path: ARTIFACT, fullPage: true });
    // The results and the inspector's first rows (docs/images/browser-page.png is one of these).
    const top = await page.$eval('#latent', (e) => e.getBoundingClientRect().top + window.scrollY);
    await page.screenshot({ path: ARTIFACT.replace('.png', '-results.png'), fullPage: true, clip: { x: 0, y: top - 10, width: 1280, height: 1100 } });
    const shot = readPng(ARTIFACT).image;
    expect(shot.width).toBeGreaterThan(800);
    const colours = new Set<number>();
    for (let i = 0; i < shot.data.length; i += 3) colours.add((shot.data[i]! << 16) | (shot.data[i + 1]! << 8) | shot.data[i + 2]!);
    expect(colours.size).toBeGreaterThan(1000); // images, thumbnails and text: not a blank page

    // Same browser profile, new visit: every weight byte comes from the Cache API.
    requests.length = 0;
    await page.reload();
    await waitIdle(page);
    const again = await runPage(page);
    expect(requests.filter((q) => q.url.includes('.safetensors'))).toEqual([]);
    expect(again.models.vae!.fromCache).toBe(again.models.vae!.bytes);
    expectEqualsCli(again);
    await page.context().close();
  }, 600_000);

  it('from a server that ignores Range (SwiftShader, the default adapter): the same numbers', async () => {
    requests.length = 0;
    const page = await openPage(plain);
    const r = await runPage(page);
    expect(r.adapter.kind).toBe('core');
    expect(r.adapter.name).toMatch(/swiftshader/i);
    expect(r.models.vae!.mode).toBe('cached-file'); // streamed once into the cache, read back in slices
    expect(requests.filter((q) => q.url.endsWith('.safetensors')).length).toBe(3); // one 200 per weights file (VAE, consistency decoder, TAESD)
    expectEqualsCli(r);
    await page.context().close();
  }, 600_000);
});

describe('the page, error paths', () => {
  const errorText = (page: Page) => page.$eval('#error', (e) => (e.hidden ? '' : e.textContent ?? ''));

  it('no navigator.gpu: says the browser has no WebGPU', async () => {
    const page = await openPage(ranged, '', () => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    expect(await errorText(page)).toMatch(/^starting: this browser has no WebGPU \(navigator\.gpu is missing\)/);
    await page.context().close();
  });

  it('a 404 weight URL names the URL and the status', async () => {
    const page = await openPage(ranged);
    await page.fill('#vae-url', `${ranged.url}/models/no-weights/`);
    await page.click('#load');
    expect(await waitIdle(page)).toBe('error');
    expect(await errorText(page)).toContain(`${ranged.url}/models/no-weights/diffusion_pytorch_model.safetensors: HTTP 404 Not Found`);
    await page.fill('#vae-url', `${ranged.url}/models/nothing-here/`);
    await page.click('#load');
    expect(await waitIdle(page)).toBe('error');
    expect(await errorText(page)).toContain(`${ranged.url}/models/nothing-here/config.json: HTTP 404 Not Found`);
    await page.context().close();
  });

  it('a truncated safetensors file over HTTP is refused, saying so', async () => {
    for (const server of [ranged, plain]) {
      const page = await openPage(server);
      await page.fill('#vae-url', `${server.url}/models/truncated/`);
      await page.click('#load');
      expect(await waitIdle(page)).toBe('error');
      expect(await errorText(page)).toMatch(/truncated\/diffusion_pytorch_model\.safetensors: file is \d+ bytes but the header says .*\(truncated file\?\)/);
      await page.context().close();
    }
  });
});
