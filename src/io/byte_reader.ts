// Positioned reads: the one way the PyTorch readers (zip.ts, pickle input, torch_file.ts) touch bytes.
//
// A checkpoint can be larger than 2 GiB (OpenAI's decoder.pt is 2.49 GB), which `fs.readFile` refuses
// and which should never be held in memory at once anyway. Every reader here asks for `length` bytes at
// `position` and nothing else, so the same parsers could run over another byte source (an HTTP range
// reader or a browser File) by implementing this small interface. This file and the parsers import
// nothing from Node; the file-backed reader and openTorchFile are in src/io/file_reader.ts.

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

export function checkRange(name: string, size: number, position: number, length: number): void {
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > size) {
    throw new CheckpointFormatError(name, `read of ${length} bytes at offset ${position} is outside the file (${size} bytes)`);
  }
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
