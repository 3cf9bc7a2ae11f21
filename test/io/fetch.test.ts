// fetchFile and `sdvae weights` against a local HTTP server on 127.0.0.1 (never the internet).
//
// The server serves a few KB of random bytes under several paths, each with one behaviour: plain
// (with Range support), dropping the connection part-way through the first response, ignoring
// Range, redirecting, and the files of a tiny manifest entry for the CLI. Every request is logged
// (path and Range header) so the tests can assert what the client asked for, and how often.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWeights, type Out } from '../../src/cli/weights.js';
import { ChecksumError, fetchFile, type FetchOptions, type FetchProgress } from '../../src/io/fetch.js';
import type { Manifest } from '../../src/io/weights_manifest.js';

const DATA = randomBytes(48 * 1024);
const DATA16 = randomBytes(24 * 1024);
const CONFIG = Buffer.from('{"_class_name": "AutoencoderKL"}\n');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SHA = sha256(DATA);
const DROP_AT = 10_000; // /drop/* sends this many bytes on its first request, then closes the socket
const T = { timeout: 15_000 }; // per test

const requests: { path: string; range: string | undefined }[] = [];
const dropped = new Set<string>();

/** Answers with `body`, honouring `Range: bytes=N-` unless told not to. */
function serve(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, honourRange = true): void {
  const m = honourRange ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
  if (!m) {
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
    return;
  }
  const start = Number(m[1]);
  if (start >= body.length) {
    res.writeHead(416, { 'content-range': `bytes */${body.length}` });
    res.end();
    return;
  }
  res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
  res.end(body.subarray(start));
}

const TINY_FILES: Record<string, Buffer> = {
  '/test/tiny/resolve/main/config.json': CONFIG,
  '/test/tiny/resolve/main/diffusion_pytorch_model.safetensors': DATA,
  '/test/tiny/resolve/main/diffusion_pytorch_model.fp16.safetensors': DATA16,
};

const server = http.createServer((req, res) => {
  const p = new URL(req.url ?? '/', 'http://localhost').pathname;
  requests.push({ path: p, range: req.headers.range });
  if (p.startsWith('/file/')) return serve(req, res, DATA);
  if (p.startsWith('/norange/')) return serve(req, res, DATA, false);
  if (p.startsWith('/drop/')) {
    if (dropped.has(p)) return serve(req, res, DATA);
    dropped.add(p);
    res.writeHead(200, { 'content-length': DATA.length });
    res.write(DATA.subarray(0, DROP_AT), () => res.destroy()); // destroy once those bytes are flushed
    return;
  }
  if (p === '/redirect/relative') {
    res.writeHead(302, { location: '/redirect/absolute' }); // the hub sends relative ones too
    return res.end();
  }
  if (p === '/redirect/absolute') {
    res.writeHead(307, { location: `${base}/file/after-redirect` });
    return res.end();
  }
  if (p === '/redirect/loop') {
    res.writeHead(302, { location: '/redirect/loop' });
    return res.end();
  }
  const tiny = TINY_FILES[p];
  if (tiny) return serve(req, res, tiny);
  res.writeHead(404);
  res.end();
});

let base = '';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdvae-fetch-'));
let counter = 0;
const tmp = (label: string) => path.join(dir, `${counter++}`, label);

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  requests.length = 0;
});

/** Options for a quick test: short timeouts and retry delays, few retries. */
function opts(url: string, dest: string, extra: Partial<FetchOptions> = {}): FetchOptions {
  return { url: `${base}${url}`, dest, timeoutMs: 5000, retryDelayMs: 10, retries: 2, ...extra };
}

describe('fetchFile', () => {
  it('downloads a file and verifies its size and sha256', T, async () => {
    const dest = tmp('plain.bin');
    const progress: FetchProgress[] = [];
    const r = await fetchFile(opts('/file/plain', dest, { bytes: DATA.length, sha256: SHA, onProgress: (p) => progress.push(p) }));
    expect(r).toMatchObject({ status: 'downloaded', bytes: DATA.length, sha256: SHA, checked: true });
    expect(fs.readFileSync(dest).equals(DATA)).toBe(true);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
    expect(requests).toEqual([{ path: '/file/plain', range: undefined }]);
    expect(progress.at(-1)).toMatchObject({ done: DATA.length, total: DATA.length });
    expect(progress.at(-1)!.rate).toBeGreaterThan(0);
  });

  it('without an expected sha256, reports the computed one as unchecked', T, async () => {
    const r = await fetchFile(opts('/file/unchecked', tmp('unchecked.bin')));
    expect(r).toMatchObject({ status: 'downloaded', sha256: SHA, checked: false });
  });

  it('resumes with a Range request after the connection drops', T, async () => {
    const dest = tmp('drop.bin');
    const r = await fetchFile(opts('/drop/a', dest, { bytes: DATA.length, sha256: SHA }));
    expect(r.sha256).toBe(SHA);
    expect(fs.readFileSync(dest).equals(DATA)).toBe(true);
    expect(requests).toHaveLength(2);
    expect(requests[0].range).toBeUndefined();
    expect(requests[1].range).toBe(`bytes=${DROP_AT}-`); // every byte that arrived was kept
  });

  it('starts over when the server ignores Range and answers 200', T, async () => {
    const dest = tmp('norange.bin');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(`${dest}.part`, Buffer.alloc(5000, 0xee)); // a stale .part that is not even a prefix
    const r = await fetchFile(opts('/norange/x', dest, { bytes: DATA.length, sha256: SHA }));
    expect(r.sha256).toBe(SHA);
    expect(fs.readFileSync(dest).equals(DATA)).toBe(true);
    expect(requests).toEqual([{ path: '/norange/x', range: 'bytes=5000-' }]);
  });

  it('treats a 416 for a complete .part as done', T, async () => {
    const dest = tmp('complete.bin');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(`${dest}.part`, DATA);
    const r = await fetchFile(opts('/file/complete', dest, { sha256: SHA })); // no size given: must ask
    expect(r).toMatchObject({ status: 'downloaded', sha256: SHA, checked: true });
    expect(requests).toEqual([{ path: '/file/complete', range: `bytes=${DATA.length}-` }]);
  });

  it('rejects a wrong checksum, naming the file and both hashes, and leaves nothing behind', T, async () => {
    const dest = tmp('wrong.bin');
    const expected = 'ab'.repeat(32);
    const e = await fetchFile(opts('/file/wrong', dest, { sha256: expected })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChecksumError);
    expect((e as Error).message).toContain(dest);
    expect((e as Error).message).toContain(expected);
    expect((e as Error).message).toContain(SHA);
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
  });

  it('follows redirects, relative and absolute', T, async () => {
    const dest = tmp('redirect.bin');
    const r = await fetchFile(opts('/redirect/relative', dest, { sha256: SHA }));
    expect(r.sha256).toBe(SHA);
    expect(requests.map((q) => q.path)).toEqual(['/redirect/relative', '/redirect/absolute', '/file/after-redirect']);
  });

  it('stops when aborted, keeping the .part for a later resume', T, async () => {
    const dest = tmp('abort.bin');
    const ac = new AbortController();
    const p = fetchFile(opts('/file/abort', dest, { signal: ac.signal, onProgress: () => ac.abort() }));
    await expect(p).rejects.toThrow();
    expect(fs.existsSync(dest)).toBe(false);
    expect(requests).toHaveLength(1); // not retried
    const r = await fetchFile(opts('/file/abort', dest, { sha256: SHA }));
    expect(r.sha256).toBe(SHA);
  });

  it('gives up on a redirect loop', T, async () => {
    await expect(fetchFile(opts('/redirect/loop', tmp('loop.bin')))).rejects.toThrow(/more than 5 redirects/);
    expect(requests).toHaveLength(6);
  });

  it('fails on a 404 without retrying', T, async () => {
    await expect(fetchFile(opts('/nothing-here', tmp('404.bin')))).rejects.toThrow(/HTTP 404/);
    expect(requests).toHaveLength(1);
  });

  it('does not download a file that is already present and verified', T, async () => {
    const dest = tmp('present.bin');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, DATA);
    const r = await fetchFile(opts('/file/present', dest, { bytes: DATA.length, sha256: SHA, force: true }));
    expect(r).toMatchObject({ status: 'present', sha256: SHA, checked: true });
    expect(requests).toHaveLength(0);
  });

  it('refuses to replace a present file with the wrong hash unless forced', T, async () => {
    const dest = tmp('stale.bin');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, DATA16);
    await expect(fetchFile(opts('/file/stale', dest, { sha256: SHA }))).rejects.toThrow(/already exists.*force/);
    expect(requests).toHaveLength(0);
    expect(fs.readFileSync(dest).equals(DATA16)).toBe(true);
    const r = await fetchFile(opts('/file/stale', dest, { sha256: SHA, force: true }));
    expect(r.status).toBe('downloaded');
    expect(fs.readFileSync(dest).equals(DATA)).toBe(true);
  });
});

describe('sdvae weights', () => {
  const hub = 'https://huggingface.co/test/tiny/resolve/main';
  const manifest: Manifest = [
    {
      name: 'tiny',
      kind: 'vae',
      description: 'a test entry',
      files: [
        { url: `${hub}/config.json`, path: 'tiny/config.json' },
        {
          url: `${hub}/diffusion_pytorch_model.safetensors`,
          path: 'tiny/diffusion_pytorch_model.safetensors',
          bytes: DATA.length,
          sha256: SHA,
          variant: 'fp32',
        },
        {
          url: `${hub}/diffusion_pytorch_model.fp16.safetensors`,
          path: 'tiny/diffusion_pytorch_model.fp16.safetensors',
          bytes: DATA16.length,
          sha256: sha256(DATA16),
          variant: 'fp16',
        },
      ],
    },
  ];
  const capture = (): Out & { text: string } => ({ text: '', write(s: string) { this.text += s; } });
  const run = async (...args: string[]) => {
    const stdout = capture();
    const stderr = capture();
    const code = await runWeights(args, { manifest, stdout, stderr });
    return { code, out: stdout.text, err: stderr.text };
  };

  it('fetch downloads config and fp32 weights via --base-url; again, it downloads nothing', T, async () => {
    const wdir = tmp('weights');
    const r = await run('fetch', 'tiny', '--dir', wdir, '--base-url', base);
    expect(r.code, r.err).toBe(0);
    expect(requests.map((q) => q.path)).toEqual([
      '/test/tiny/resolve/main/config.json',
      '/test/tiny/resolve/main/diffusion_pytorch_model.safetensors',
    ]);
    expect(fs.readFileSync(path.join(wdir, 'tiny/diffusion_pytorch_model.safetensors')).equals(DATA)).toBe(true);
    expect(fs.readFileSync(path.join(wdir, 'tiny/config.json')).equals(CONFIG)).toBe(true);
    expect(r.out).toMatch(/downloaded .*diffusion_pytorch_model\.safetensors.*sha256 matches/);
    expect(r.out).toMatch(/downloaded .*config\.json.*unchecked/);
    expect(r.err).toMatch(/100\.0%/); // not a TTY: progress as lines

    requests.length = 0;
    const again = await run('fetch', 'tiny', '--dir', wdir, '--base-url', base);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/present .*diffusion_pytorch_model\.safetensors/);
    expect(requests).toHaveLength(0);

    const listed = await run('list', '--dir', wdir);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(/present +tiny\/diffusion_pytorch_model\.safetensors/);
    expect(listed.out).toMatch(/missing +tiny\/diffusion_pytorch_model\.fp16\.safetensors/);

    const verified = await run('verify', 'tiny', '--dir', wdir);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toMatch(/OK .*diffusion_pytorch_model\.safetensors/);
    expect(verified.out).toMatch(/UNCHECKED .*config\.json/);
    expect((await run('verify', 'tiny', '--dir', wdir, '--fp16')).code).toBe(1); // fp16 not fetched

    // A corrupted file: verify fails; fetch refuses to replace it without --force.
    fs.writeFileSync(path.join(wdir, 'tiny/diffusion_pytorch_model.safetensors'), DATA16);
    const bad = await run('verify', 'tiny', '--dir', wdir);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/BAD .*diffusion_pytorch_model\.safetensors/);
    expect((await run('fetch', 'tiny', '--dir', wdir, '--base-url', base)).code).toBe(1);
    expect((await run('fetch', 'tiny', '--dir', wdir, '--base-url', base, '--force')).code).toBe(0);
    expect(fs.readFileSync(path.join(wdir, 'tiny/diffusion_pytorch_model.safetensors')).equals(DATA)).toBe(true);
  });

  it('--fp16 fetches the fp16 weights', T, async () => {
    const wdir = tmp('weights16');
    const r = await run('fetch', 'tiny', '--fp16', '--dir', wdir, '--base-url', base);
    expect(r.code, r.err).toBe(0);
    expect(requests.map((q) => q.path)).toEqual([
      '/test/tiny/resolve/main/config.json',
      '/test/tiny/resolve/main/diffusion_pytorch_model.fp16.safetensors',
    ]);
    expect((await run('verify', 'tiny', '--fp16', '--dir', wdir)).code).toBe(0);
  });

  it('on a terminal, rewrites one progress line with \\r', T, async () => {
    const stdout = capture();
    const stderr = { ...capture(), isTTY: true };
    const code = await runWeights(['fetch', 'tiny', '--dir', tmp('tty'), '--base-url', base], { manifest, stdout, stderr });
    expect(code, stderr.text).toBe(0);
    expect(stderr.text).toMatch(/\r.*diffusion_pytorch_model\.safetensors +100\.0%.*\x1b\[K\n/);
  });

  it('exits 2 on usage errors', T, async () => {
    expect((await run()).code).toBe(2);
    expect((await run('fetch')).code).toBe(2);
    expect((await run('fetch', 'nope')).code).toBe(2);
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('list', '--bogus')).code).toBe(2);
    expect((await run('--help')).code).toBe(0);
    expect(requests).toHaveLength(0);
  });
});
