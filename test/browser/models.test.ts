// Both tiny models' io files, inside Chromium, on both adapters: the models are loaded over HTTP (Range
// requests) by the browser build's loader and every expected tensor and tapped module output must pass
// at the io file's tolerances, as in test/models/vae.test.ts and consistency.test.ts. And an F16
// checkpoint kept 16-bit on the GPU (no shader-f16 here) decodes exactly as its f32-widened weights.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { f32ToF16 } from '../../src/io/dtype.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { FIXTURES } from '../helpers.js';
import { ADAPTERS, useBrowser, type AdapterKind } from './chromium.js';

// The tiny VAE with its weights stored F16 (an fp16 checkpoint), served at /f16/.
const F16_DIR = mkdtempSync(join(tmpdir(), 'sdvae-f16-'));
{
  const src = join(FIXTURES, 'models/tiny-vae');
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of readSafetensors(join(src, 'diffusion_pytorch_model.safetensors')).tensors)
    tensors[name] = { dtype: 'F16', shape: t.shape, data: f32ToF16(t.data as Float32Array) };
  writeSafetensors(join(F16_DIR, 'diffusion_pytorch_model.safetensors'), tensors);
  copyFileSync(join(src, 'config.json'), join(F16_DIR, 'config.json'));
}

const env = useBrowser([{ prefix: '/f16/', dir: F16_DIR }]);
afterAll(() => rmSync(F16_DIR, { recursive: true, force: true }));

interface Check { case: string; kind: string; name: string; maxAbsErr: number; atol: number; pass: boolean; error?: string }

async function runIoInBrowser(kind: AdapterKind, model: 'tiny-vae' | 'tiny-consistency'): Promise<{ checks: Check[]; progress: number[] }> {
  const page = await env().open();
  try {
    return await page.evaluate(async ({ request, model }) => {
      const s = (window as any).sdvae;
      const adapter = await navigator.gpu.requestAdapter(request as GPURequestAdapterOptions);
      if (!adapter) throw new Error(`no adapter for ${JSON.stringify(request)}`);
      const gpu = await s.Gpu.fromAdapter(adapter);
      const base = `/fixtures/reference/models/${model}/`;
      const progress: number[] = [];
      const files = await s.openModelUrl(base);
      const onProgress = (p: { loaded: number; total: number }) => progress.push(p.loaded / p.total);
      const m = model === 'tiny-vae' ? await s.loadAutoencoderKLFrom(gpu, files, { onProgress }) : await s.loadConsistencyDecoderFrom(gpu, files, { onProgress });
      const io = await (await s.SafetensorsSource.open(await s.openHttpSource(`${base}io.safetensors`))).readAll();
      const runner = model === 'tiny-vae' ? s.vaeRunner(m) : s.consistencyRunner(m);
      const checks = await s.runModelCases(runner, `${base}io.safetensors`, io.metadata, io.tensors);
      m.release();
      gpu.destroy();
      return { checks, progress };
    }, { request: ADAPTERS[kind], model });
  } finally {
    await page.close();
  }
}

describe.each(Object.keys(ADAPTERS) as AdapterKind[])('tiny models in Chromium (%s adapter)', (kind) => {
  it('tiny-vae: every io case and tap passes', async () => {
    const { checks, progress } = await runIoInBrowser(kind, 'tiny-vae');
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(new Set(checks.map((c) => c.case))).toEqual(new Set(['encode', 'encode_ns', 'decode', 'decode_ns']));
    expect(checks.filter((c) => c.kind === 'tap').length).toBeGreaterThanOrEqual(13);
    expect(progress.at(-1)).toBe(1);
    expect(progress.every((p, i) => i === 0 || p >= progress[i - 1])).toBe(true);
  }, 600_000);

  it('tiny-consistency: every io case (sampler steps, clamp variant, taps) passes', async () => {
    const { checks } = await runIoInBrowser(kind, 'tiny-consistency');
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    const names = new Set(checks.map((c) => `${c.case}:${c.name}`));
    for (const n of ['consistency:image', 'consistency:x_t_1', 'consistency:unet_output_1', 'consistency_openai:image', 'consistency_1step:image', 'consistency_ns:image', 'encode:latent_mean'])
      expect(names).toContain(n);
    expect(checks.filter((c) => c.kind === 'tap').length).toBeGreaterThanOrEqual(7);
  }, 600_000);
});

describe('F16 weights in Chromium (no shader-f16 on these adapters)', () => {
  it('kept 16-bit on the GPU, decodes equal the same weights widened to f32, bit for bit (both adapters)', async () => {
    const page = await env().open();
    try {
      const r = await page.evaluate(async (requests) => {
        const s = (window as any).sdvae;
        const io = await (await s.SafetensorsSource.open(await s.openHttpSource('/fixtures/reference/models/tiny-vae/io.safetensors'))).readAll();
        const lat = io.tensors.get('latent_mean'); // [1, 4, 16, 16]
        const out: Record<string, unknown> = {};
        for (const [kind, request] of Object.entries(requests)) {
          const gpu = await s.Gpu.fromAdapter(await navigator.gpu.requestAdapter(request as GPURequestAdapterOptions));
          const runs: number[][] = [];
          const weightBytes: number[] = [];
          for (const storage of ['as-stored', 'f32']) {
            const before = gpu.pool.getStats().inUseBytes;
            const vae = await s.loadAutoencoderKLFrom(gpu, await s.openModelUrl('/f16/'), { storage });
            weightBytes.push(gpu.pool.getStats().inUseBytes - before);
            const [n, c, h, w] = lat.shape;
            const z = gpu.upload(s.nchwToNhwc(lat.data, lat.shape), [n, h, w, c]);
            const y = vae.decode(z);
            runs.push(Array.from(await y.read()));
            for (const t of [z, y]) t.release();
            vae.release();
          }
          out[kind] = { f16: gpu.features.f16, halfTheBytes: weightBytes[0]! < 0.6 * weightBytes[1]!, equal: runs[0]!.every((v, i) => Object.is(v, runs[1]![i])), n: runs[0]!.length, finite: runs[0]!.every(Number.isFinite) };
          gpu.destroy();
        }
        return out;
      }, ADAPTERS);
      for (const kind of Object.keys(ADAPTERS)) expect(r[kind]).toEqual({ f16: false, halfTheBytes: true, equal: true, n: 1 * 32 * 32 * 3, finite: true });
    } finally {
      await page.close();
    }
  }, 600_000);
});
