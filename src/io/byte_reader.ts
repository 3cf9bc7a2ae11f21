// The PyTorch readers' side of byte sources (byte_source.ts, SyncByteSource): the error every problem
// in a PyTorch file is reported as, their range check, and bytes in memory as a source (tests, fuzzing).
// Like the parsers, this file imports nothing from Node; the file-backed source and openTorchFile are
// in src/io/file_reader.ts.

import { rangeProblem, type SyncByteSource } from './byte_source.js';

/** Every problem found in a PyTorch file reads "<file>: <problem>". */
export class CheckpointFormatError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointFormatError';
  }
}

/** byte_source.ts' range check, reported as a CheckpointFormatError. */
export function checkReadRange(source: SyncByteSource, position: number, length: number): void {
  const problem = rangeProblem(source, position, length);
  if (problem) throw new CheckpointFormatError(source.name, problem);
}

/** Bytes already in memory (tests, fuzzing). Reads return copies. */
export function bytesReader(bytes: Uint8Array, name: string): SyncByteSource {
  const source: SyncByteSource = {
    name,
    size: bytes.length,
    read(position, length) {
      checkReadRange(source, position, length);
      return new Uint8Array(bytes.subarray(position, position + length)); // a copy (Buffer.slice would share memory)
    },
    close() {},
  };
  return source;
}
