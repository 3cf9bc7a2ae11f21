// node scripts/browser-winograd-bench.mjs [ROUNDS] (after npm run build)
//
// Winograd on the shared-memory GEMM core against the direct tiled conv on the two adapters a page
// reaches here in headless Chromium (SwiftShader, subgroups of 4; the compatibility-mode adapter,
// ANGLE on lavapipe, no subgroups): the adapters that ran only the direct tiled conv before
// winograd.gemm_shared.ts. Per adapter and conv shape, ROUNDS (default 3) rounds of the tuner's own
// measurement (measureConv: each applicable variant once after a warm-up, synced wall time or GPU
// timestamps), so the variants alternate; prints the median time per variant and the median ratio
// tiled / winograd4-shared. Launch flags as test/browser/chromium.ts (Debian's chromium, nice 10).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { buildWeb } from './build-web.mjs';
import { startStaticServer } from '../dist/src/cli/static_server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 3);
const conv3 = (c, side) => ({ cin: c, cout: c, kh: 3, kw: 3, stride: 1, pad: [1, 1, 1, 1], pixels: side * side });
const SHAPES = [conv3(128, 32), conv3(128, 64), conv3(256, 16), conv3(256, 32), conv3(512, 16)];
const ADAPTERS = { core: {}, compatibility: { featureLevel: 'compatibility' } };

const tmp = mkdtempSync(join(tmpdir(), 'sdvae-web-bench-'));
const webDir = await buildWeb(join(tmp, 'web'));
const server = await startStaticServer({ mounts: [{ prefix: '/dist/', dir: webDir }, { prefix: '/', dir: join(ROOT, 'test', 'browser') }] });
const browser = await chromium.launch({
  executablePath: join(ROOT, 'test', 'browser', 'chromium-nice.sh'),
  env: { ...process.env, CHROMIUM: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' },
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
    '--disable-quic', '--enable-unsafe-webgpu', '--use-angle=vulkan', '--use-webgpu-adapter=opengles'],
});
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const lines = ['| adapter | conv | tiled ms | winograd-shared ms | winograd4-shared ms | tiled / winograd4-shared |', '|---|---|---:|---:|---:|---:|'];
try {
  for (const [kind, request] of Object.entries(ADAPTERS)) {
    const page = await browser.newPage();
    await page.goto(server.url + '/harness.html');
    await page.waitForFunction(() => window.sdvaeReady === true);
    const r = await page.evaluate(async ({ request, shapes, rounds }) => {
      const s = window.sdvae;
      const gpu = await s.Gpu.fromAdapter(await navigator.gpu.requestAdapter(request));
      const out = [];
      for (const shape of shapes) {
        const records = [];
        for (let i = 0; i < rounds; i++) records.push((await s.measureConv(gpu, shape)).ms);
        out.push(records);
      }
      const name = gpu.adapterName;
      gpu.destroy();
      return { name, out };
    }, { request, shapes: SHAPES, rounds });
    SHAPES.forEach((shape, i) => {
      const recs = r.out[i];
      const med = (v) => median(recs.map((m) => m[v]));
      const ratio = median(recs.map((m) => m.tiled / m['winograd4-shared']));
      const side = Math.sqrt(shape.pixels);
      lines.push(`| ${kind}: ${r.name} | ${shape.cin}->${shape.cout} 3x3 ${side}x${side} | ${med('tiled').toFixed(1)} | ${med('winograd-shared').toFixed(1)} | ${med('winograd4-shared').toFixed(1)} | ${ratio.toFixed(2)} |`);
      console.log(lines[lines.length - 1]);
    });
    await page.close();
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`\n${new Date().toISOString()}, ${rounds} rounds\n${lines.join('\n')}`);
