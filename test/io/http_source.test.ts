// The HTTP byte source against the project's static server on 127.0.0.1: Range requests (only the bytes
// asked for travel), the fallback for servers that ignore Range (cached whole, or streamed), the cache
// (a second load makes no request), cache quota errors reported, and the error messages for a 404, a
// truncated file and a server that is not there.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer, type StaticServer } from '../../src/cli/static_server.js';
import { openHttpSource, type ResponseCache } from '../../src/io/http_source.js';
import { SafetensorsError, SafetensorsFile } from '../../src/io/safetensors.js';
import { SafetensorsSource } from '../../src/io/safetensors_source.js';
import { FIXTURES } from '../helpers.js';

const VAE_DIR = path.join(FIXTURES, 'models/tiny-vae');
const VAE = path.join(VAE_DIR, 'diffusion_pytorch_model.safetensors');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'http-'));

interface Logged { url: string; range: string | undefined; status: number; bytes: number }
let ranged: StaticServer;
let plain: StaticServer;
const log: Logged[] = [];

beforeAll(async () => {
  const whole = fs.readFileSync(VAE);
  fs.writeFileSync(path.join(dir, 'cut.safetensors'), whole.subarray(0, whole.length - 1000));
  const mounts = [{ prefix: '/m/', dir: VAE_DIR }, { prefix: '/t/', dir }];
  ranged = await startStaticServer({ mounts, onRequest: (r) => log.push(r) });
  plain = await startStaticServer({ mounts, ranges: false, onRequest: (r) => log.push(r) });
});
afterAll(async () => {
  await ranged.close();
  await plain.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** An in-memory cache with the Cache API's match/put (Node has no Cache API). */
function memoryCache(failPuts = false): ResponseCache & { keys: () => string[] } {
  const m = new Map<string, { body: ArrayBuffer; headers: Headers }>();
  return {
    keys: () => [...m.keys()],
    async match(key) {
      const e = m.get(key);
      return e && new Response(e.body.slice(0), { headers: e.headers });
    },
    async put(key, res) {
      const body = await res.arrayBuffer();
      if (failPuts) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      m.set(key, { body, headers: res.headers });
    },
  };
}

async function expectSameTensors(st: SafetensorsSource, order: 'file' | 'reverse' = 'file'): Promise<void> {
  const sync = SafetensorsFile.open(VAE);
  const names = order === 'file' ? sync.names() : sync.names().reverse();
  const differing: string[] = [];
  for (const n of names) if (!Buffer.from(await st.readBytes(n)).equals(sync.readBytes(n))) differing.push(n);
  sync.close();
  expect(differing).toEqual([]);
}

describe('openHttpSource', () => {
  it('reads with Range requests: one 206 per tensor, never the whole file', async () => {
    log.length = 0;
    const src = await openHttpSource(`${ranged.url}/m/diffusion_pytorch_model.safetensors`);
    expect(src.mode).toBe('range');
    expect(src.size).toBe(fs.statSync(VAE).size);
    const st = await SafetensorsSource.open(src);
    await expectSameTensors(st);
    expect(log.every((r) => r.status === 206 && r.range !== undefined)).toBe(true);
    expect(log.length).toBe(2 + st.tensors.size); // length prefix, header, then one per tensor
    expect(Math.max(...log.map((r) => r.bytes))).toBeLessThan(src.size / 4);
  });

  it('a second load with a cache downloads nothing', async () => {
    const cache = memoryCache();
    const url = `${ranged.url}/m/diffusion_pytorch_model.safetensors`;
    await expectSameTensors(await SafetensorsSource.open(await openHttpSource(url, { cache })));
    log.length = 0;
    const again = await openHttpSource(url, { cache });
    await expectSameTensors(await SafetensorsSource.open(again));
    expect(log).toEqual([]);
    expect(again.fromCache).toBe(again.size); // every byte read came from the cache
  });

  it('a cache that refuses to store (quota) is reported, and the load still succeeds', async () => {
    const errors: string[] = [];
    const src = await openHttpSource(`${ranged.url}/m/diffusion_pytorch_model.safetensors`, { cache: memoryCache(true), onCacheError: (u, e) => errors.push(`${u}: ${e.name}`) });
    await expectSameTensors(await SafetensorsSource.open(src));
    expect(errors.length).toBeGreaterThan(1);
    expect(errors[0]).toMatch(/diffusion_pytorch_model\.safetensors: QuotaExceededError$/);
  });

  it('a server that ignores Range: streamed (reads in any order), or cached whole and sliced', async () => {
    const url = `${plain.url}/m/diffusion_pytorch_model.safetensors`;
    const streamed = await openHttpSource(url);
    expect(streamed.mode).toBe('stream');
    await expectSameTensors(await SafetensorsSource.open(streamed), 'reverse');
    await streamed.close?.();
    const cache = memoryCache();
    log.length = 0;
    const cached = await openHttpSource(url, { cache });
    expect(cached.mode).toBe('cached-file');
    await expectSameTensors(await SafetensorsSource.open(cached), 'reverse');
    expect(log.map((r) => r.status)).toEqual([200]); // one download, then slices of the cached copy
    log.length = 0;
    const again = await openHttpSource(url, { cache });
    await expectSameTensors(await SafetensorsSource.open(again));
    expect(log).toEqual([]);
  });

  it('a 404 names the URL and the status', async () => {
    const url = `${ranged.url}/m/missing.safetensors`;
    await expect(openHttpSource(url)).rejects.toThrow(`${url}: HTTP 404 Not Found`);
  });

  it('a truncated file over HTTP is refused at open, with or without Range support', async () => {
    for (const server of [ranged, plain]) {
      const url = `${server.url}/t/cut.safetensors`;
      const err = await SafetensorsSource.open(await openHttpSource(url)).catch((e) => e);
      expect(err).toBeInstanceOf(SafetensorsError);
      expect(err.message).toMatch(new RegExp(`^${url.replace(/[.?]/g, '\\$&')}: file is \\d+ bytes but the header says .*\\(truncated file\\?\\)`));
    }
  });

  it('a server that is not there is reported with the URL', async () => {
    const s = await startStaticServer({ mounts: [] });
    const url = `${s.url}/x.safetensors`;
    await s.close();
    await expect(openHttpSource(url)).rejects.toThrow(new RegExp(`^${url.replace(/[.?]/g, '\\$&')}: the request failed`));
  });
});
