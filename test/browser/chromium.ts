// Shared setup of the browser tests: the browser build (npm run build:web, into a temp folder), a static
// server on 127.0.0.1 for it and the fixtures, and headless Chromium (Debian's, driven by
// playwright-core) with WebGPU on. Launch flags from docs/browser.md: SwiftShader is the core adapter
// (subgroups of 4), ANGLE on Vulkan (lavapipe) the compatibility-mode adapter.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { startStaticServer, type Mount, type StaticServer, type StaticServerOptions } from '../../src/cli/static_server.js';
// @ts-expect-error: a plain ES module script without types
import { buildWeb } from '../../scripts/build-web.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ROOT = join(import.meta.dirname, '..', '..');

export const LAUNCH_ARGS = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu', '--use-angle=vulkan',
  '--use-webgpu-adapter=opengles',
];

/** The two adapters a page reaches here, by how they are requested. */
export const ADAPTERS = {
  core: {},
  compatibility: { featureLevel: 'compatibility' },
} as const;
export type AdapterKind = keyof typeof ADAPTERS;

export interface BrowserEnv {
  browser: Browser;
  server: StaticServer;
  /** The built page and library (dist/web layout). */
  webDir: string;
  /** A new page on `path` of the server, with the library loaded (window.sdvae). Console lines go to `log`. */
  open(path?: string): Promise<Page>;
  log: string[];
}

/**
 * Builds, serves and launches before the file's tests, closes after. Mounts: /dist/ (the build),
 * /fixtures/ (test/fixtures), / (test/browser), plus `extra`.
 */
export function useBrowser(extra: Mount[] = [], serverOpts: Partial<StaticServerOptions> = {}): () => BrowserEnv {
  let env: BrowserEnv | undefined;
  let tmp = '';
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: the browser tests need Debian's chromium (bash scripts/setup-chromium.sh), or set CHROMIUM_PATH`);
    tmp = mkdtempSync(join(tmpdir(), 'sdvae-web-'));
    const webDir: string = await buildWeb(join(tmp, 'web'));
    const server = await startStaticServer({
      ...serverOpts,
      mounts: [
        { prefix: '/dist/', dir: webDir },
        { prefix: '/fixtures/', dir: join(ROOT, 'test', 'fixtures') },
        { prefix: '/', dir: join(ROOT, 'test', 'browser') },
        ...extra,
      ],
    });
    // Through chromium-nice.sh: the browser at a lower CPU priority than the test runner.
    const browser = await chromium.launch({ executablePath: join(import.meta.dirname, 'chromium-nice.sh'), env: { ...process.env, CHROMIUM }, headless: true, args: LAUNCH_ARGS });
    const log: string[] = [];
    env = {
      browser,
      server,
      webDir,
      log,
      async open(path = '/harness.html') {
        const page = await browser.newPage();
        page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
        page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
        await page.goto(server.url + path);
        if (path === '/harness.html') await page.waitForFunction(() => (window as unknown as { sdvaeReady?: boolean }).sdvaeReady === true);
        return page;
      },
    };
  }, 180_000);
  afterAll(async () => {
    await env?.browser.close();
    await env?.server.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  return () => {
    if (!env) throw new Error('browser not started yet');
    return env;
  };
}
