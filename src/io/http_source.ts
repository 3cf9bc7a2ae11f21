// A URL as a ByteSource: each read is one HTTP Range request (`Range: bytes=a-b`, answered 206), so a
// checkpoint is fetched tensor by tensor and never held whole. Servers that ignore Range (answer 200
// with the whole file) get the fallback: the response is streamed into the cache and read back in
// slices from there, or, with no cache, read as a stream front to back (a read before the stream's
// position restarts it).
//
// The cache (the browser's Cache API, or anything with the same match/put) makes a second load download
// nothing: each range is stored under the URL plus `?sdvae-range=a-b` (the Cache API refuses partial
// 206 responses, so ranges are stored as plain 200 responses of their bytes), a whole-file fallback
// under the URL itself. A cache that fails (quota exceeded, private windows) is reported through
// `onCacheError` and the load goes on without it. No Node imports: part of the browser build.

import { blobSource, checkRange, type ByteSource } from './byte_source.js';

/** The part of the Cache API this uses (`await caches.open('sdvae-weights')` is one). */
export interface ResponseCache {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
}

export interface HttpSourceOptions {
  cache?: ResponseCache | null;
  /** Called when the cache refuses to store (quota); the load continues uncached. */
  onCacheError?: (url: string, error: Error) => void;
  /** Defaults to globalThis.fetch. */
  fetch?: typeof fetch;
}

export interface HttpSource extends ByteSource {
  /** How the bytes are read: per-range requests, a cached whole file, or one streamed response. */
  readonly mode: 'range' | 'cached-file' | 'stream';
}

const TOTAL_HEADER = 'x-sdvae-total-bytes';

export async function openHttpSource(url: string, opts: HttpSourceOptions = {}): Promise<HttpSource> {
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const cache = opts.cache ?? null;
  const cacheError = (e: unknown) => opts.onCacheError?.(url, e instanceof Error ? e : new Error(String(e)));

  const whole = await cache?.match(url).catch(() => undefined);
  if (whole) return fromBlob(url, await whole.blob(), true);

  const probeKey = rangeKey(url, 0, 8);
  const probeHit = await cache?.match(probeKey).catch(() => undefined);
  let size: number;
  let fromCache = 0;
  let probe: Uint8Array | undefined; // the first 8 bytes, which every reader asks for next
  if (probeHit && probeHit.headers.get(TOTAL_HEADER)) {
    size = Number(probeHit.headers.get(TOTAL_HEADER));
  } else {
    const res = await request(doFetch, url, { Range: 'bytes=0-7' });
    if (res.status === 200) return fallback(url, res, doFetch, cache, cacheError);
    size = totalFromContentRange(url, res);
    probe = new Uint8Array(await res.arrayBuffer());
    if (cache) await store(cache, probeKey, probe, size).catch(cacheError);
  }

  return {
    name: url,
    size,
    mode: 'range',
    get fromCache() {
      return fromCache;
    },
    async read(offset, length) {
      checkRange({ name: url, size }, offset, length);
      if (length === 0) return new Uint8Array(0);
      if (probe && offset === 0 && length === 8 && probe.length === 8) return probe.slice();
      const key = rangeKey(url, offset, length);
      const hit = await cache?.match(key).catch(() => undefined);
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        if (bytes.length === length) {
          fromCache += length;
          return bytes;
        }
      }
      const res = await request(doFetch, url, { Range: `bytes=${offset}-${offset + length - 1}` });
      if (res.status !== 206) throw new Error(`${url}: a Range request for bytes ${offset}-${offset + length - 1} got HTTP ${res.status}, not 206 (the server stopped honouring Range?)`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length !== length) throw new Error(`${url}: asked for ${length} bytes at ${offset}, the server sent ${bytes.length} (file changed on the server?)`);
      if (cache) await store(cache, key, bytes, size).catch(cacheError);
      return bytes;
    },
  };
}

/** The cache key of one range: a distinct URL (the Cache API ignores fragments, so a query). */
export function rangeKey(url: string, offset: number, length: number): string {
  return `${url}${url.includes('?') ? '&' : '?'}sdvae-range=${offset}-${offset + length - 1}`;
}

async function request(doFetch: typeof fetch, url: string, headers: Record<string, string>): Promise<Response> {
  let res: Response;
  try {
    res = await doFetch(url, { headers });
  } catch (e) {
    throw new Error(`${url}: the request failed (${(e as Error).message}): is the server running and the URL right?`);
  }
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
  return res;
}

function totalFromContentRange(url: string, res: Response): number {
  const m = /^bytes \d+-\d+\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  if (!m) throw new Error(`${url}: a 206 response without a usable Content-Range header (${res.headers.get('content-range') ?? 'none'})`);
  return Number(m[1]);
}

async function store(cache: ResponseCache, key: string, bytes: Uint8Array, total: number): Promise<void> {
  await cache.put(key, new Response(bytes.slice().buffer, { status: 200, headers: { [TOTAL_HEADER]: String(total), 'content-type': 'application/octet-stream' } }));
}

function fromBlob(url: string, blob: Blob, cached: boolean): HttpSource {
  const inner = blobSource(blob, url);
  let fromCache = 0;
  return {
    name: url,
    size: inner.size,
    mode: 'cached-file',
    get fromCache() {
      return fromCache;
    },
    async read(offset, length) {
      const bytes = await inner.read(offset, length);
      if (cached) fromCache += length;
      return bytes;
    },
  };
}

/** The server answered the probe with the whole file (200): cache it whole, or read it as a stream. */
async function fallback(url: string, res: Response, doFetch: typeof fetch, cache: ResponseCache | null, cacheError: (e: unknown) => void): Promise<HttpSource> {
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (cache) {
    try {
      // The body streams into the cache (to disk in a browser), never into one JS buffer.
      await cache.put(url, res);
      const stored = await cache.match(url);
      if (stored) return fromBlob(url, await stored.blob(), false);
    } catch (e) {
      cacheError(e);
    }
    res = await request(doFetch, url, {});
  }
  if (!Number.isSafeInteger(length)) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`${url}: the server ignores Range requests and sends no Content-Length, so the file's size is unknown`);
  }
  return streamSource(url, length, res, doFetch);
}

/** One response read front to back; reads must move forward, a read behind the position refetches. */
function streamSource(url: string, size: number, first: Response, doFetch: typeof fetch): HttpSource {
  let reader = first.body!.getReader();
  let pos = 0;
  let leftover: Uint8Array = new Uint8Array(0);
  const next = async (): Promise<Uint8Array> => {
    if (leftover.length) {
      const c = leftover;
      leftover = new Uint8Array(0);
      return c;
    }
    const { value, done } = await reader.read();
    if (done || !value) throw new Error(`${url}: the response ended at byte ${pos} of ${size} (truncated download?)`);
    return value;
  };
  return {
    name: url,
    size,
    mode: 'stream',
    async read(offset, length) {
      checkRange({ name: url, size }, offset, length);
      if (offset < pos) {
        await reader.cancel().catch(() => undefined);
        reader = (await request(doFetch, url, {})).body!.getReader();
        pos = 0;
        leftover = new Uint8Array(0);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (pos < offset + length) {
        const chunk = await next();
        const skip = Math.max(0, offset - pos);
        const take = Math.min(chunk.length - skip, offset + length - pos - skip);
        if (take <= 0) {
          pos += chunk.length;
          continue;
        }
        out.set(chunk.subarray(skip, skip + take), done);
        done += take;
        pos += skip + take;
        if (skip + take < chunk.length) leftover = chunk.subarray(skip + take);
      }
      return out;
    },
    async close() {
      await reader.cancel().catch(() => undefined);
    },
  };
}
