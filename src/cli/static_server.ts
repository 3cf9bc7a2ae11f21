// A static file server on 127.0.0.1 (Node's http) with single-range Range support: what `sdvae serve`
// runs for the page and a weights folder, and what the browser tests serve fixtures with.
//
// Each mount maps a URL prefix to a folder. Paths are resolved inside their folder (no `..` escapes,
// no symlink tricks beyond what the folder holds). `ranges: false` makes it ignore Range headers and
// always answer 200 with the whole file, as some static hosts do, to exercise the clients' fallback.

import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';

export interface Mount {
  /** URL prefix, starting and ending with '/' ('/' for the root). */
  prefix: string;
  dir: string;
}

export interface StaticServerOptions {
  mounts: Mount[];
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Honour Range requests (default true). */
  ranges?: boolean;
  /** Generated JSON documents by URL path (e.g. the served models' index), computed per request. */
  json?: Record<string, () => unknown>;
  /** Called once per request (tests count requests and ranges). */
  onRequest?: (req: { url: string; range: string | undefined; status: number; bytes: number }) => void;
}

export interface StaticServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.map': 'application/json',
  '.safetensors': 'application/octet-stream',
};

export async function startStaticServer(opts: StaticServerOptions): Promise<StaticServer> {
  const mounts = [...opts.mounts].sort((a, b) => b.prefix.length - a.prefix.length);
  const server = createServer((req, res) => handle(req, res, mounts, opts));
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, host, () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** The file a URL path names, or undefined when it is outside every mount. */
export function resolvePath(mounts: Mount[], urlPath: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (path.includes('\0')) return undefined;
  for (const m of mounts) {
    if (!path.startsWith(m.prefix)) continue;
    const root = resolve(m.dir);
    const file = resolve(join(root, path.slice(m.prefix.length)));
    if (file !== root && !file.startsWith(root + sep)) return undefined;
    return file;
  }
  return undefined;
}

/** A single `bytes=` range of a file of `size` bytes: [start, end] inclusive, 'bad' if unsatisfiable. */
export function parseRange(header: string, size: number): [number, number] | 'bad' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // multi-range or malformed: ignore, send all
  if (m[1] === '') {
    const n = Number(m[2]);
    return n === 0 ? 'bad' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size || end < start ? 'bad' : [start, end];
}

function handle(req: IncomingMessage, res: ServerResponse, mounts: Mount[], opts: StaticServerOptions): void {
  const urlPath = (req.url ?? '/').split('?')[0]!;
  const range = req.headers.range;
  const done = (status: number, bytes: number) => opts.onRequest?.({ url: req.url ?? '/', range, status, bytes });
  const fail = (status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
    done(status, 0);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'only GET and HEAD');
  const generated = opts.json?.[urlPath];
  if (generated) {
    const body = JSON.stringify(generated(), null, 2);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : body);
    return done(200, body.length);
  }
  let file = resolvePath(mounts, urlPath);
  if (!file) return fail(404, `not found: ${urlPath}`);
  let size: number;
  try {
    let st = statSync(file);
    if (st.isDirectory()) {
      file = join(file, 'index.html');
      st = statSync(file);
    }
    if (!st.isFile()) return fail(404, `not found: ${urlPath}`);
    size = st.size;
  } catch {
    return fail(404, `not found: ${urlPath}`);
  }
  const headers: Record<string, string | number> = {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
  };
  if (opts.ranges !== false) headers['accept-ranges'] = 'bytes';
  const r = opts.ranges !== false && range ? parseRange(range, size) : undefined;
  if (r === 'bad') {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return done(416, 0);
  }
  const [start, end] = r ?? [0, size - 1];
  const length = size === 0 ? 0 : end - start + 1;
  headers['content-length'] = length;
  if (r) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(r ? 206 : 200, headers);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return done(r ? 206 : 200, 0);
  }
  const stream = createReadStream(file, { start, end });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
  res.on('finish', () => done(r ? 206 : 200, length));
}
