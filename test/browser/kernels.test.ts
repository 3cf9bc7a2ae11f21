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
