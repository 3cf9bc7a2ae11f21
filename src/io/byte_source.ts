// Byte sources: something with a size whose bytes can be read at any position. Two forms share one
// shape (a name for errors, a size, positioned reads of fresh bytes) and one range check:
//
//   ByteSource      asynchronous: the safetensors reader (safetensors_source.ts) works on it, so one
//                   format implementation serves a Node file (byte_source_node.ts), an HTTP URL read
//                   with Range requests (http_source.ts) and a browser `File`/`Blob` (here).
//   SyncByteSource  synchronous: the PyTorch readers (zip.ts, torch_file.ts, torch_tensor.ts), whose
//                   zip directories and pickle streams are many small reads, each depending on the
//                   last; a Node file (file_reader.ts) or bytes in memory (bytesReader, byte_reader.ts).
//
// A source never needs to hold its whole content: each read is one positioned slice, so a 2.5 GB
// checkpoint costs one tensor's memory at a time. This file imports nothing from Node: it is part of
// the browser build.

/** What both forms have: a name for error messages (a path, a URL, a file name) and a size in bytes. */
export interface SizedSource {
  readonly name: string;
  readonly size: number;
}

export interface ByteSource extends SizedSource {
  /**
   * Exactly `length` bytes starting at `offset`, in a fresh, non-shared ArrayBuffer of that length
   * (so typed-array views and WebGPU uploads can use it directly). Rejects when the range is outside
   * the source or the underlying read fails, naming the source.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Bytes of what was read so far that came from a cache, not the network (HTTP sources). */
  readonly fromCache?: number;
  /** Releases what the source holds open (a file descriptor, a stream); optional. */
  close?(): Promise<void> | void;
}

/** Progress of a load: bytes fetched so far of the total, for one source or a whole model. */
export interface LoadProgress {
  /** The source (URL, file) the last bytes came from. */
  name: string;
  loaded: number;
  total: number;
  /** Bytes of `loaded` that came from a cache rather than the network. */
  cached: number;
}

export type ProgressCallback = (p: LoadProgress) => void;

/** The synchronous form (see the top of this file). */
export interface SyncByteSource extends SizedSource {
  /** Exactly `length` bytes at `offset`, in a fresh ArrayBuffer-backed Uint8Array; throws, naming the source. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/** What is wrong with reading `length` bytes at `offset` of `source`, or undefined when the range is inside it. */
export function rangeProblem(source: SizedSource, offset: number, length: number): string | undefined {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) return `invalid read of ${length} bytes at ${offset}`;
  if (offset + length > source.size) return `read of bytes [${offset}, ${offset + length}) runs past the end (${source.size} bytes)`;
  return undefined;
}

/** Checks a requested range against the source size; the message names the source. */
export function checkRange(source: SizedSource, offset: number, length: number): void {
  const problem = rangeProblem(source, offset, length);
  if (problem) throw new Error(`${source.name}: ${problem}`);
}

/** A browser `File` or `Blob` (also Node's `Blob`): each read is one `slice`, so nothing else is loaded. */
export function blobSource(blob: Blob, name = (blob as Blob & { name?: string }).name ?? 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(this, offset, length);
      let buf: ArrayBuffer;
      try {
        buf = await blob.slice(offset, offset + length).arrayBuffer();
      } catch (e) {
        throw new Error(`${name}: reading bytes [${offset}, ${offset + length}) failed: ${(e as Error).message}`);
      }
      if (buf.byteLength !== length) throw new Error(`${name}: read ${buf.byteLength} of ${length} bytes at ${offset} (file changed?)`);
      return new Uint8Array(buf);
    },
  };
}

/** Bytes already in memory (tests, a file the user just dropped and read). Reads return copies. */
export function bytesSource(bytes: Uint8Array, name = 'bytes'): ByteSource {
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(this, offset, length);
      return new Uint8Array(bytes.subarray(offset, offset + length)); // a copy (Buffer.slice would share memory)
    },
  };
}

/**
 * Counts what is read from `sources` against their total size and reports it to `onProgress` after
 * every read: one progress bar for a model made of several files.
 */
export function trackProgress(sources: ByteSource[], onProgress: ProgressCallback): ByteSource[] {
  const total = sources.reduce((n, s) => n + s.size, 0);
  let loaded = 0;
  return sources.map((s) => ({
    name: s.name,
    size: s.size,
    get fromCache() {
      return s.fromCache;
    },
    close: s.close?.bind(s),
    async read(offset: number, length: number) {
      const bytes = await s.read(offset, length);
      loaded += bytes.length;
      onProgress({ name: s.name, loaded, total, cached: sources.reduce((n, x) => n + (x.fromCache ?? 0), 0) });
      return bytes;
    },
  }));
}
