// Every kernel reference case, run inside Chromium by the browser build, on both adapters a page gets
// here (SwiftShader core with subgroups of 4; ANGLE/lavapipe in compatibility mode), at each case's
// recommended tolerance: the same check as test/kernels/reference_cases.test.ts, in a browser.
import { describe, expect, it } from 'vitest';
import { kernelIndex } from '../helpers.js';
import { ADAPTERS, useBrowser, type AdapterKind } from './chromium.js';

const env = useBrowser();

interface BrowserCaseResult {
  adapter: string;
  features: Record<string, unknown>;
  results: { file: string; op: string; maxAbsErr: number; atol: number; pass: boolean; error?: string }[];
}

async function runCasesInBrowser(kind: AdapterKind, files: string[]): Promise<BrowserCaseResult> {
  const page = await env().open();
  try {
    return await page.evaluate(async ({ request, files }) => {
      const s = (window as any).sdvae;
      const adapter = await navigator.gpu.requestAdapter(request as GPURequestAdapterOptions);
      if (!adapter) throw new Error(`no adapter for ${JSON.stringify(request)}`);
      const gpu = await s.Gpu.fromAdapter(adapter);
      const results = [];
      for (const file of files) {
        const st = await s.SafetensorsSource.open(await s.openHttpSource(`/fixtures/reference/${file}`));
        const { metadata, tensors } = await st.readAll();
        const r = await s.runKernelCase(gpu, { path: file, metadata, tensors });
        results.push({ file, op: r.op, maxAbsErr: r.maxAbsErr, atol: r.atol, pass: r.pass, error: r.error });
      }
      const out = { adapter: gpu.adapterName, features: { ...gpu.features }, results };
      gpu.destroy();
      return out;
    }, { request: ADAPTERS[kind], files });
  } finally {
    await page.close();
  }
}

describe.each(Object.keys(ADAPTERS) as AdapterKind[])('kernel reference cases in Chromium (%s adapter)', (kind) => {
  it('every case passes at its recommended tolerance', async () => {
    const index = kernelIndex();
    const r = await runCasesInBrowser(kind, index.map((c) => c.file));
    expect(r.results.length).toBe(index.length);
    for (const c of index) {
      const got = r.results.find((x) => x.file === c.file)!;
      expect({ file: c.file, error: got.error, atol: got.atol }).toEqual({ file: c.file, error: undefined, atol: c.recommended_atol });
      expect(got.maxAbsErr, `${c.file} on ${r.adapter}`).toBeLessThanOrEqual(c.recommended_atol);
    }
    if (kind === 'core') expect(r.features).toMatchObject({ subgroups: true, subgroupMinSize: 4 });
    else expect(r.features).toMatchObject({ subgroups: false });
  }, 600_000);
});

// Winograd on the workgroup-memory GEMM core (winograd.gemm_shared.ts): neither adapter has 8-lane
// subgroups, so the automatic choice runs every 3x3 pad-1 conv as 'winograd4-shared' (above) or, with
// convPolicy.winogradTile = 2, 'winograd-shared'. Both tiles, every Winograd case, with the op log
// showing that each case's 3x3 convs ran Winograd on the shared core and none on another core.
describe.each(Object.keys(ADAPTERS) as AdapterKind[])('Winograd cases on the shared-memory GEMM core in Chromium (%s adapter)', (kind) => {
  it('F(2x2) and F(4x4): every case passes at its tolerance, on the shared core', async () => {
    const pad1 = (c: { params: Record<string, unknown> }) => JSON.stringify(c.params.padding) === '[1,1,1,1]' && JSON.stringify(c.params.kernel) === '[3,3]';
    const cases = kernelIndex().filter((c) => (c.op === 'conv2d' && pad1(c)) || c.op === 'upsample2d_conv' || c.op === 'resnet_block2d');
    expect(cases.length).toBeGreaterThanOrEqual(8);
    const page = await env().open();
    try {
      const runs = await page.evaluate(async ({ request, files }) => {
        const s = (window as any).sdvae;
        const adapter = await navigator.gpu.requestAdapter(request as GPURequestAdapterOptions);
        if (!adapter) throw new Error(`no adapter for ${JSON.stringify(request)}`);
        const gpu = await s.Gpu.fromAdapter(adapter);
        const out = [];
        for (const tile of [2, 4]) {
          s.convPolicy.winogradTile = tile;
          for (const file of files) {
            const st = await s.SafetensorsSource.open(await s.openHttpSource(`/fixtures/reference/${file}`));
            const { metadata, tensors } = await st.readAll();
            gpu.opLog = [];
            const r = await s.runKernelCase(gpu, { path: file, metadata, tensors });
            const labels: string[] = gpu.opLog.map((o: { label: string }) => o.label).filter((l: string) => l.includes('k3x3s1 winograd'));
            gpu.opLog = null;
            out.push({ tile, file, maxAbsErr: r.maxAbsErr, error: r.error, labels });
          }
        }
        s.convPolicy.winogradTile = 4;
        gpu.destroy();
        return out;
      }, { request: ADAPTERS[kind], files: cases.map((c) => c.file) });
      expect(runs.length).toBe(2 * cases.length);
      for (const r of runs) {
        const c = cases.find((x) => x.file === r.file)!;
        expect(r.error, `${r.file} F(${r.tile}x${r.tile})`).toBeUndefined();
        expect(r.maxAbsErr, `${r.file} F(${r.tile}x${r.tile})`).toBeLessThanOrEqual(c.recommended_atol);
        expect(r.labels.length, `${r.file}: Winograd ops`).toBeGreaterThan(0);
        for (const l of r.labels) expect(l).toContain(`winograd F(${r.tile}x${r.tile},3x3) shared`);
      }
    } finally {
      await page.close();
    }
  }, 600_000);
});
