// Downloading one large file safely: resumable, retried, verified, and never left half-written.
//
//   1. If `dest` already exists it is checked (size, sha256 when known) and kept when it is right:
//      nothing is downloaded. A wrong file is an error unless `force` (which also replaces a file that
//      cannot be verified), and even then it is only replaced once the new download has been verified.
//   2. Bytes go to `dest + '.part'`. When a .part exists (an earlier run was interrupted) the request
//      asks for the rest with `Range: bytes=N-`. The server may answer
//        206 Partial Content   append; Content-Range must start at N,
//        200 OK                it ignored the Range header: the whole file follows, so start again at 0,
//        416 Not Satisfiable   N is at or past the end: the .part is complete if N equals the total
//                              size in `Content-Range: bytes */TOTAL`, else it is discarded.
//   3. Redirects are followed (up to 5): the Hugging Face hub answers every file with a redirect to
//      its CDN, whose signed URL expires, so every attempt starts again from the original URL.
//   4. A dropped connection, a timeout or a 5xx answer is retried with exponential backoff, resuming
//      from whatever reached the disk. `retries` bounds the failures since the last one that added bytes.
//   5. The finished .part is hashed from disk (streamed; a resumed download cannot be hashed in one
//      pass over the network) and checked. Only then is it renamed to `dest`, so `dest` is always a
//      complete, verified file. A wrong size or sha256 deletes the .part and throws.
//
// Only node:http and node:https are used. `agent: false` gives each request its own connection, so no
// idle keep-alive socket holds the process open after the download.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FetchProgress {
  /** Bytes of the file on disk so far (including what an earlier run left in the .part). */
  done: number;
  /** Total size, when known (from `bytes` or the server's headers). */
  total: number | undefined;
  /** Download rate of this call in bytes per second (bytes received / time since the call started). */
  rate: number;
}

export interface FetchOptions {
  url: string;
  dest: string;
  /** Expected size in bytes; checked when given. */
  bytes?: number;
  /** Expected sha256 (hex); checked when given, else computed and reported as unchecked. */
  sha256?: string;
  onProgress?: (p: FetchProgress) => void;
  /** Consecutive failed attempts without progress before giving up (default 5). */
  retries?: number;
  signal?: AbortSignal;
  /** Replace an existing `dest` that fails verification (or that cannot be verified). */
  force?: boolean;
  /** Abort a request after this long without data, in ms (default 30 000). */
  timeoutMs?: number;
  /** First retry delay in ms, doubled on each further failure, at most 30 s (default 1000). */
  retryDelayMs?: number;
  /** Redirects followed per request (default 5). */
  maxRedirects?: number;
}

export interface FetchResult {
  dest: string;
  /** 'present': dest was already there and passed verification; nothing was downloaded. */
  status: 'downloaded' | 'present';
  bytes: number;
  /** The file's sha256, computed here. */
  sha256: string;
  /** True when sha256 was compared with (and equals) an expected value; false when none was given. */
  checked: boolean;
}

/** A failure with a message meant for the user. `retryable` failures are retried by fetchFile. */
export class FetchError extends Error {
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

/** The downloaded (or existing) file does not have the expected sha256. */
export class ChecksumError extends FetchError {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${file}: sha256 mismatch: expected ${expected}, got ${actual}`);
    this.name = 'ChecksumError';
  }
}

/** Streams a file through sha256 (memory stays flat for multi-GB files). */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash, { signal });
  return hash.digest('hex');
}

export interface FileCheck {
  bytes: number;
  /** Computed sha256; undefined when the size was already wrong (no point hashing). */
  sha256: string | undefined;
  /** undefined: nothing to compare with. */
  sizeOk: boolean | undefined;
  shaOk: boolean | undefined;
}

/** Size and sha256 of `path` compared with the expected values that are known. */
export async function checkFile(path: string, expect: { bytes?: number; sha256?: string }, signal?: AbortSignal): Promise<FileCheck> {
  const bytes = (await stat(path)).size;
  const sizeOk = expect.bytes === undefined ? undefined : bytes === expect.bytes;
  if (sizeOk === false) return { bytes, sha256: undefined, sizeOk, shaOk: undefined };
  const sha256 = await sha256File(path, signal);
  const shaOk = expect.sha256 === undefined ? undefined : sha256 === expect.sha256.toLowerCase();
  return { bytes, sha256, sizeOk, shaOk };
}

export function describeCheck(c: FileCheck, expect: { bytes?: number; sha256?: string }): string {
  if (c.sizeOk === false) return `size ${c.bytes} bytes, expected ${expect.bytes}`;
  if (c.shaOk === false) return `sha256 ${c.sha256}, expected ${expect.sha256}`;
  return c.shaOk ? 'sha256 matches' : `sha256 ${c.sha256} (no published sha256 to check it against)`;
}

export async function fetchFile(o: FetchOptions): Promise<FetchResult> {
  const expect = { bytes: o.bytes, sha256: o.sha256 };
  if (existsSync(o.dest)) {
    const c = await checkFile(o.dest, expect, o.signal);
    const ok = c.sizeOk !== false && c.shaOk !== false;
    // A verified file is never replaced; an unverifiable one only with force.
    if (ok && (c.shaOk === true || !o.force)) {
      return { dest: o.dest, status: 'present', bytes: c.bytes, sha256: c.sha256!, checked: c.shaOk === true };
    }
    if (!ok && !o.force) throw new FetchError(`${o.dest} already exists with ${describeCheck(c, expect)}; not replacing it without force`);
  }
  await mkdir(dirname(o.dest), { recursive: true });
  const part = `${o.dest}.part`;
  await download(o, part);

  const c = await checkFile(part, expect, o.signal);
  if (c.sizeOk === false || c.shaOk === false) {
    await rm(part, { force: true });
    if (c.shaOk === false) throw new ChecksumError(o.dest, o.sha256!.toLowerCase(), c.sha256!);
    throw new FetchError(`${o.dest}: downloaded ${c.bytes} bytes, expected ${o.bytes}; deleted the download`);
  }
  await rename(part, o.dest);
  return { dest: o.dest, status: 'downloaded', bytes: c.bytes, sha256: c.sha256!, checked: c.shaOk === true };
}

/** Attempts until the .part holds the whole file (per the server), retrying what is retryable. */
async function download(o: FetchOptions, part: string): Promise<void> {
  const retries = o.retries ?? 5;
  const started = Date.now();
  let received = 0; // bytes received by this call, for the rate
  let failures = 0;
  for (;;) {
    let have = existsSync(part) ? statSync(part).size : 0;
    if (o.bytes !== undefined && have > o.bytes) {
      await rm(part, { force: true }); // longer than the file: not a prefix of it
      have = 0;
    }
    if (o.bytes !== undefined && have === o.bytes) return; // complete: verification decides
    try {
      await attempt(o, part, have, (n, done, total) => {
        received += n;
        o.onProgress?.({ done, total: total ?? o.bytes, rate: received / Math.max(1e-3, (Date.now() - started) / 1000) });
      });
      return;
    } catch (e) {
      if (o.signal?.aborted) throw o.signal.reason ?? e; // the .part stays, for a later resume
      if (e instanceof FetchError && !e.retryable) throw e; // other errors are network errors: retry
      const now = existsSync(part) ? statSync(part).size : 0;
      failures = now > have ? 1 : failures + 1; // progress resets the count
      if (failures > retries) throw new FetchError(`${o.url}: giving up after ${failures} failed attempts: ${(e as Error).message}`);
      await sleep(Math.min(30_000, (o.retryDelayMs ?? 1000) * 2 ** (failures - 1)), undefined, { signal: o.signal });
    }
  }
}

/** One request (following redirects): appends to the .part or rewrites it, per the status code. */
async function attempt(
  o: FetchOptions,
  part: string,
  offset: number,
  progress: (n: number, done: number, total: number | undefined) => void,
): Promise<void> {
  const { res, url } = await openFollowingRedirects(o, offset);
  const status = res.statusCode ?? 0;
  const contentRange = res.headers['content-range'];
  let start: number;
  let total: number | undefined;
  if (status === 200) {
    start = 0; // a fresh download, or a server that ignores Range: either way the whole file follows
    total = numberOrUndefined(res.headers['content-length']);
  } else if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
    if (!m || Number(m[1]) !== offset) {
      res.resume();
      await rm(part, { force: true });
      throw new FetchError(`${url}: asked for bytes ${offset}-, got Content-Range "${contentRange}"; starting over`, true);
    }
    start = offset;
    total = m[3] === '*' ? undefined : Number(m[3]);
  } else if (status === 416) {
    res.resume();
    const t = numberOrUndefined(/^bytes \*\/(\d+)$/.exec(contentRange ?? '')?.[1]);
    if (t === offset) return; // the .part already holds the whole file
    await rm(part, { force: true });
    throw new FetchError(`${url}: range ${offset}- not satisfiable (size ${t ?? 'unknown'}); starting over`, true);
  } else {
    res.resume();
    const retryable = status >= 500 || status === 408 || status === 429;
    throw new FetchError(`${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd(), retryable);
  }
  if (o.bytes !== undefined && total !== undefined && total !== o.bytes) {
    res.resume();
    throw new FetchError(`${url}: the server's file has ${total} bytes, expected ${o.bytes}`);
  }

  const bodyLength = numberOrUndefined(res.headers['content-length']);
  let got = 0;
  // Not stream.pipeline: when the connection drops, pipeline destroys the file stream and the
  // response, discarding bytes that had arrived but were still buffered, so a resume would start
  // from less than what came. Here each chunk is handed to the file as it arrives ('data' events),
  // and the file is closed normally (flushing every write) however the response ends.
  const file = createWriteStream(part, { flags: start === 0 ? 'w' : 'a' });
  try {
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: Buffer) => {
        got += chunk.length;
        progress(chunk.length, start + got, total);
        if (!file.write(chunk)) {
          res.pause();
          file.once('drain', () => res.resume());
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
      res.on('close', () => reject(new FetchError(`${url}: connection closed after ${got} of ${bodyLength ?? '?'} bytes`, true)));
      file.on('error', reject);
    });
  } finally {
    await new Promise<void>((resolve) => file.end(() => resolve()));
  }
  if (!res.complete || (bodyLength !== undefined && got < bodyLength)) {
    throw new FetchError(`${url}: connection closed after ${got} of ${bodyLength ?? '?'} bytes`, true);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

async function openFollowingRedirects(o: FetchOptions, offset: number): Promise<{ res: http.IncomingMessage; url: URL }> {
  let url = new URL(o.url);
  const maxRedirects = o.maxRedirects ?? 5;
  for (let hops = 0; ; hops++) {
    const headers: Record<string, string> = { 'user-agent': 'sdvae-webgpu', 'accept-encoding': 'identity' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await get(url, headers, o);
    if (!REDIRECTS.has(res.statusCode ?? 0)) return { res, url };
    res.resume();
    const location = res.headers.location;
    if (!location) throw new FetchError(`${url}: HTTP ${res.statusCode} without a Location header`);
    if (hops >= maxRedirects) throw new FetchError(`${o.url}: more than ${maxRedirects} redirects`);
    url = new URL(location, url); // Location may be relative
  }
}

function get(url: URL, headers: Record<string, string>, o: FetchOptions): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new FetchError(`${url}: unsupported protocol ${url.protocol}`));
  return new Promise((resolve, reject) => {
    const req = client.request(url, { headers, agent: false, signal: o.signal }, resolve);
    const timeoutMs = o.timeoutMs ?? 30_000;
    // Also covers the body: the socket times out whenever no data arrives for timeoutMs.
    req.setTimeout(timeoutMs, () => req.destroy(new FetchError(`${url}: no data for ${timeoutMs} ms`, true)));
    req.on('error', reject);
    req.end();
  });
}

function numberOrUndefined(v: string | undefined): number | undefined {
  return v === undefined || !/^\d+$/.test(v) ? undefined : Number(v);
}
