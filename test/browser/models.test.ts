// Both tiny models' io files, inside Chromium, on both adapters: the models are loaded over HTTP (Range
// requests) by the browser build's loader and every expected tensor and tapped module output must pass
// at the io file's tolerances, as in test/models/vae.test.ts and consistency.test.ts.
import { describe, expect, it } from 'vitest';
import { ADAPTERS, useBrowser, type AdapterKind } from './chromium.js';

const env = useBrowser();

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
