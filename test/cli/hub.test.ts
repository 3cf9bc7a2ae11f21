// `sdvae compare photo.png` with no model flags: the default pair comes from the Hugging Face cache,
// fetched there from a stand-in hub on 127.0.0.1 the first time and found there afterwards; offline,
// one error names the missing files. Model flags also take hub ids.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCheck } from '../../src/cli/check.js';
import { runCompare } from '../../src/cli/compare.js';
import type { Manifest } from '../../src/io/weights_manifest.js';
import { FIXTURES } from '../helpers.js';
import { sha256, startHub, type HubServer } from '../io/hub_server.js';

const PAIR_VAE = join(import.meta.dirname, '../fixtures/tiny-pair/vae');
const CONS = join(FIXTURES, 'models/tiny-consistency');
const IMG = join(import.meta.dirname, '../fixtures/images/gt1.png');

/** The manifest's two default entries, pointing at the tiny pair served by `base`. */
function manifest(base: string): Manifest {
  const entry = (name: string, kind: 'vae' | 'consistency', repo: string, folder: string, dir: string) => {
    const w = readFileSync(join(dir, 'diffusion_pytorch_model.safetensors'));
    const url = (f: string) => `${base}/${repo}/resolve/main/${folder ? `${folder}/` : ''}${f}`;
    return {
      name,
      kind,
      description: `tiny ${kind}`,
      files: [
        { url: url('config.json'), path: `${name}/config.json` },
        { url: url('diffusion_pytorch_model.safetensors'), path: `${name}/diffusion_pytorch_model.safetensors`, bytes: w.length, sha256: sha256(w), variant: 'fp32' as const },
      ],
    };
  };
  return [entry('sd-v1-5-vae', 'vae', 'test/sd15', 'vae', PAIR_VAE), entry('consistency-decoder', 'consistency', 'test/cd', '', CONS)];
}

let hub: HubServer;
let dir: string;
let out: string[];
const saved = { ...process.env };
beforeAll(async () => {
  const files = new Map<string, Uint8Array>();
  for (const f of ['config.json', 'diffusion_pytorch_model.safetensors']) {
    files.set(`/test/sd15/resolve/main/vae/${f}`, new Uint8Array(readFileSync(join(PAIR_VAE, f))));
    files.set(`/test/cd/resolve/main/${f}`, new Uint8Array(readFileSync(join(CONS, f))));
  }
  hub = await startHub(files);
});
afterAll(async () => {
  process.env = saved;
  await hub.close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sdvae-hubcli-'));
  process.env.HF_HUB_CACHE = join(dir, 'cache');
  delete process.env.HF_ENDPOINT;
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

describe('sdvae compare with the default models', () => {
  it('fetches the pair into the cache on first use, then runs from the cache without downloading', async () => {
    const args = [IMG, '--resize', '64', '--steps', '1', '--seed', '1', '--json'];
    expect(await runCompare([...args, '-o', join(dir, 'a')], { manifest: manifest(hub.base) })).toBe(0);
    expect(hub.gets.length).toBe(4);
    const stderr = (process.stderr.write as unknown as { mock: { calls: unknown[][] } }).mock.calls.map((c) => String(c[0])).join('');
    expect(stderr).toMatch(/test\/sd15\/vae is not in the Hugging Face cache .*; downloading it \(once\)/);
    expect(stderr).toMatch(/vae\/diffusion_pytorch_model\.safetensors  100\.0% /); // the progress line
    const report = JSON.parse(readFileSync(join(dir, 'a', 'report.json'), 'utf8'));
    expect(report[0].decoders.map((d: { decoder: string }) => d.decoder)).toEqual(['SD VAE', 'Consistency']);
    expect(await runCompare([...args, '-o', join(dir, 'b')], { manifest: manifest(hub.base) })).toBe(0);
    expect(hub.gets.length).toBe(4);
    // The same numbers as with the folders given explicitly.
    expect(await runCompare([...args, '-o', join(dir, 'c'), '--vae', PAIR_VAE, '--consistency', CONS])).toBe(0);
    const explicit = JSON.parse(readFileSync(join(dir, 'c', 'report.json'), 'utf8'));
    expect(report[0].decoders.map((d: { psnr: number }) => d.psnr)).toEqual(explicit[0].decoders.map((d: { psnr: number }) => d.psnr));
    // Hub ids work as model flags once cached.
    expect(await runCompare([...args, '-o', join(dir, 'd'), '--vae', 'test/sd15', '--consistency', 'test/cd'])).toBe(0);
    expect(await runCheck(['--model', 'test/cd', join(CONS, 'io.safetensors')])).toBe(0);
  });

  it('offline, says which files are missing and how to get them', async () => {
    await expect(runCompare([IMG, '--resize', '64', '-o', join(dir, 'o')], { manifest: manifest('http://127.0.0.1:9') })).rejects.toThrow(
      /test\/sd15\/vae \(tiny vae\) is not in the Hugging Face cache and could not be downloaded.*Missing files:\n  http:\/\/127\.0\.0\.1:9\/test\/sd15\/resolve\/main\/vae\/config\.json\n  .*diffusion_pytorch_model\.safetensors\n.*sdvae weights fetch sd-v1-5-vae --hf-cache/s,
    );
  });

  it('refuses one model flag without the other', async () => {
    await expect(runCompare([IMG, '-o', join(dir, 'x'), '--vae', PAIR_VAE])).rejects.toThrow(/give both --vae and --consistency, or neither/);
  });
});
