// Positioned reads: the one way the PyTorch readers (zip.ts, pickle input, torch_file.ts) touch bytes.
//
// A checkpoint can be larger than 2 GiB (OpenAI's decoder.pt is 2.49 GB), which `fs.readFile` refuses
// and which should never be held in memory at once anyway. Every reader here asks for `length` bytes at
// `position` and nothing else, so the same parsers could run over another byte source (an HTTP range
// reader or a browser File) by implementing this small interface.

import * as fs from 'node:fs';

export interface PositionedReader {
  /** A name for error messages: the file path. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `position`, in a fresh ArrayBuffer-backed Uint8Array. Throws,
   * naming the source, when the range is not inside [0, size).
   */
  read(position: number, length: number): Uint8Array;
  close(): void;
}

/** Every problem found in a PyTorch file reads "<file>: <problem>". */
export class CheckpointFormatError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointFormatError';
  }
}

function checkRange(name: string, size: number, position: number, length: number): void {
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > size) {
    throw new CheckpointFormatError(name, `read of ${length} bytes at offset ${position} is outside the file (${size} bytes)`);
  }
}

/** A file on disk, read with positioned `readSync` calls (no size limit, no whole-file buffer). */
export function openFileReader(path: string): PositionedReader {
  const fd = fs.openSync(path, 'r');
  const size = fs.fstatSync(fd).size;
  let open = true;
  return {
    name: path,
    size,
    read(position, length) {
      if (!open) throw new CheckpointFormatError(path, 'file is closed');
      checkRange(path, size, position, length);
      const out = new Uint8Array(length);
      let done = 0;
      // readSync may return fewer bytes than asked (large reads are capped per call).
      while (done < length) {
        const n = fs.readSync(fd, out, done, length - done, position + done);
        if (n === 0) throw new CheckpointFormatError(path, `unexpected end of file at byte ${position + done} (file changed while open?)`);
        done += n;
      }
      return out;
    },
    close() {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}

/** Bytes already in memory (tests, fuzzing). */
export function bytesReader(bytes: Uint8Array, name: string): PositionedReader {
  return {
    name,
    size: bytes.length,
    read(position, length) {
      checkRange(name, bytes.length, position, length);
      return new Uint8Array(bytes.subarray(position, position + length)); // a copy (Buffer.slice would share memory)
    },
    close() {},
  };
}
