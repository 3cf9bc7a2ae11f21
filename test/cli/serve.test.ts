// sdvae serve's static server: Range requests (206, suffix and open ranges, 416), whole files when
// Range is off, HEAD, directory index, no escape from a mount, the models index, and the command's
// argument errors.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listModels, runServe, startServe } from '../../src/cli/serve.js';
import { parseRange, resolvePath, startStaticServer, type StaticServer } from '../../src/cli/static_server.js';
import { FIXTURES } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'serve-'));
let server: StaticServer;
const body = Uint8Array.from({ length: 100 }, (_, i) => i);

beforeAll(async () => {
  mkdirSync(join(dir, 'site', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'site', 'data.bin'), body);
  writeFileSync(join(dir, 'site', 'sub', 'index.html'), '<p>hi</p>');
  writeFileSync(join(dir, 'secret.txt'), 'outside');
  server = await startStaticServer({ mounts: [{ prefix: '/', dir: join(dir, 'site') }] });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw GET (fetch would normalise `..` away). */
function rawGet(path: string): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port: server.port, path }, (res) => {
      res.resume();
      ok(res.statusCode!);
    });
    req.on('error', fail);
    req.end();
  });
}

describe('static server', () => {
  it('answers Range requests with 206 and exactly those bytes', async () => {
    const get = async (range: string) => {
      const r = await fetch(`${server.url}/data.bin`, { headers: { range } });
      return { status: r.status, cr: r.headers.get('content-range'), bytes: Array.from(new Uint8Array(await r.arrayBuffer())) };
    };
    expect(await get('bytes=10-13')).toEqual({ status: 206, cr: 'bytes 10-13/100', bytes: [10, 11, 12, 13] });
    expect(await get('bytes=97-')).toEqual({ status: 206, cr: 'bytes 97-99/100', bytes: [97, 98, 99] });
    expect(await get('bytes=-2')).toEqual({ status: 206, cr: 'bytes 98-99/100', bytes: [98, 99] });
    expect(await get('bytes=95-500')).toMatchObject({ status: 206, cr: 'bytes 95-99/100' });
    expect((await get('bytes=200-300')).status).toBe(416);
    expect((await get('bytes=0-1,5-6')).status).toBe(200); // multi-range: the whole file
  });

  it('with ranges off, answers 200 with the whole file and no Accept-Ranges', async () => {
    const plain = await startStaticServer({ mounts: [{ prefix: '/', dir: join(dir, 'site') }], ranges: false });
    const r = await fetch(`${plain.url}/data.bin`, { headers: { range: 'bytes=0-3' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('accept-ranges')).toBeNull();
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(body);
    await plain.close();
  });

  it('HEAD, directory index, 404, 405', async () => {
    const head = await fetch(`${server.url}/data.bin`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.headers.get('accept-ranges')]).toEqual([200, '100', 'bytes']);
    expect(await (await fetch(`${server.url}/sub/`)).text()).toBe('<p>hi</p>');
    expect((await fetch(`${server.url}/nope.bin`)).status).toBe(404);
    expect((await fetch(`${server.url}/data.bin`, { method: 'POST' })).status).toBe(405);
  });

  it('never serves a file outside its mount', async () => {
    expect(await rawGet('/../secret.txt')).toBe(404);
    expect(await rawGet('/%2e%2e/secret.txt')).toBe(404);
    expect(await rawGet('/sub/..%2f..%2fsecret.txt')).toBe(404);
    expect(resolvePath([{ prefix: '/', dir: '/srv' }], '/a/%00')).toBeUndefined();
    expect(resolvePath([{ prefix: '/m/', dir: '/srv' }], '/other')).toBeUndefined();
  });

  it('parseRange', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual([0, 0]);
    expect(parseRange('bytes=-0', 10)).toBe('bad');
    expect(parseRange('bytes=5-2', 10)).toBe('bad');
    expect(parseRange('items=0-1', 10)).toBeUndefined();
  });
});

describe('sdvae serve', () => {
  it('lists the model folders with their class and weights file, and serves the page', async () => {
    const models = join(dir, 'models');
    mkdirSync(models);
    const { symlinkSync } = await import('node:fs');
    symlinkSync(join(FIXTURES, 'models/tiny-vae'), join(models, 'vae'));
    symlinkSync(join(FIXTURES, 'models/tiny-consistency'), join(models, 'cd'));
    mkdirSync(join(models, 'empty'));
    const list = listModels(models);
    expect(list.map((m) => [m.name, m.className, m.weightsFile, m.url])).toEqual([
      ['cd', 'ConsistencyDecoderVAE', 'diffusion_pytorch_model.safetensors', '/models/cd/'],
      ['vae', 'AutoencoderKL', 'diffusion_pytorch_model.safetensors', '/models/vae/'],
    ]);
    const web = join(dir, 'web');
    mkdirSync(web);
    writeFileSync(join(web, 'index.html'), '<title>page</title>');
    const s = await startServe({ models, port: 0, ranges: true, web });
    try {
      expect(await (await fetch(`${s.url}/`)).text()).toBe('<title>page</title>');
      expect((await (await fetch(`${s.url}/models/index.json`)).json()).models.length).toBe(2);
      const r = await fetch(`${s.url}/models/vae/config.json`, { headers: { range: 'bytes=0-0' } });
      expect([r.status, await r.text()]).toEqual([206, '{']);
    } finally {
      await s.close();
    }
  });

  it('refuses a missing models folder and stray arguments', async () => {
    await expect(runServe(['--models', join(dir, 'nope')])).rejects.toThrow(/--models .*nope: no such folder/);
    await expect(runServe(['extra'])).rejects.toThrow(/unexpected argument "extra"/);
    await expect(runServe(['--port', '70000'])).rejects.toThrow(/--port: expected an integer from 0 to 65535/);
  });
});
