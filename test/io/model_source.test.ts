// Models from byte sources (src/io/model_source.ts), in Node on Dawn: the tiny VAE read through the
// asynchronous reader passes its io file; the loader reads one tensor at a time (deferred reads), and
// progress ends at the file's data size; bad configs and missing weights are reported with their source.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runModelCases } from '../../src/check/model_case.js';
import { vaeRunner } from '../../src/check/vae_runner.js';
import { bytesSource, type ByteSource, type LoadProgress } from '../../src/io/byte_source.js';
import { fileSource } from '../../src/io/byte_source_node.js';
import { loadAutoencoderKLFrom, openModelFiles, openModelSource } from '../../src/io/model_source.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { deferred } from '../../src/io/safetensors_source.js';
import { FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();
const DIR = join(FIXTURES, 'models/tiny-vae');
const config = JSON.parse(fs.readFileSync(join(DIR, 'config.json'), 'utf8'));

/** Counts reads in flight (each read takes a little while, as over a network). */
function counted(s: ByteSource): ByteSource & { maxInFlight: number; reads: number } {
  let inFlight = 0;
  const out = {
    name: s.name,
    size: s.size,
    maxInFlight: 0,
    reads: 0,
    async read(offset: number, length: number) {
      out.reads++;
      out.maxInFlight = Math.max(out.maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      try {
        return await s.read(offset, length);
      } finally {
        inFlight--;
      }
    },
  };
  return out;
}

describe('models from byte sources', () => {
  it('the tiny VAE from a file source passes every io case; one tensor read at a time; progress to the total', async () => {
    const src = counted(await fileSource(join(DIR, 'diffusion_pytorch_model.safetensors')));
    const files = await openModelSource('tiny-vae', src, config);
    const seen: LoadProgress[] = [];
    const vae = await loadAutoencoderKLFrom(gpu(), files, { onProgress: (p) => seen.push(p) });
    const io = readSafetensors(join(DIR, 'io.safetensors'));
    const checks = await runModelCases(vaeRunner(vae), 'io', io.metadata, io.tensors);
    vae.release();
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(checks.length).toBeGreaterThan(10);
    expect(src.reads).toBe(2 + files.weights.tensors.size);
    expect(src.maxInFlight).toBe(1);
    expect(seen.at(-1)).toMatchObject({ loaded: files.weights.dataBytes, total: files.weights.dataBytes });
  });

  it('from a server that ignores Range, with no cache (one stream, read in file order): every io case passes', async () => {
    const { startStaticServer } = await import('../../src/cli/static_server.js');
    const { openModelUrl } = await import('../../src/io/model_source.js');
    const server = await startStaticServer({ mounts: [{ prefix: '/m/', dir: DIR }], ranges: false });
    try {
      const files = await openModelUrl(`${server.url}/m/`);
      expect((files.weights.source as { mode?: string }).mode).toBe('stream');
      const vae = await loadAutoencoderKLFrom(gpu(), files);
      const io = readSafetensors(join(DIR, 'io.safetensors'));
      const checks = await runModelCases(vaeRunner(vae), 'io', io.metadata, io.tensors);
      vae.release();
      expect(checks.filter((c) => !c.pass)).toEqual([]);
      expect(checks.length).toBeGreaterThan(10);
    } finally {
      await server.close();
    }
  });

  it('a deferred read starts when awaited, not when created', async () => {
    let started = 0;
    const p = deferred(async () => ++started);
    expect(p).toBeInstanceOf(Promise);
    await new Promise((r) => setTimeout(r, 5));
    expect(started).toBe(0);
    expect(await p).toBe(1);
    expect(await p).toBe(1); // once
  });

  it('wrong tensors are all listed, naming the source; the half-built model is released', async () => {
    const bytes = new Uint8Array(fs.readFileSync(join(DIR, 'diffusion_pytorch_model.safetensors')));
    const bad = { ...config, latent_channels: 8 };
    const err = await loadAutoencoderKLFrom(gpu(), await openModelSource('x', bytesSource(bytes, 'x.safetensors'), bad)).catch((e) => e);
    expect(err.message).toMatch(/^x\.safetensors: \d+ parameter problem\(s\):\n {2}wrong shape: /);
  });

  it('local files: one .safetensors and an optional config.json, else a clear error', async () => {
    await expect(openModelFiles([])).rejects.toThrow(/choose one \.safetensors weights file .*got no files/);
    const cfg = new File(['{not json'], 'config.json');
    const w = new File([fs.readFileSync(join(DIR, 'diffusion_pytorch_model.safetensors'))], 'diffusion_pytorch_model.safetensors');
    await expect(openModelFiles([cfg, w])).rejects.toThrow(/^config\.json: invalid JSON/);
    const files = await openModelFiles([w]);
    expect(files.config).toEqual({});
    expect(files.weights.names().length).toBeGreaterThan(50);
  });
});
