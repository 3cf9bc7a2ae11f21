// Reading and writing safetensors files in Node (the format itself: safetensors_format.ts, shared
// with the asynchronous reader over byte sources, safetensors_source.ts).
//
// The reader never loads a whole file: it reads the 8-byte length and the header, then each tensor on
// demand, so a multi-gigabyte checkpoint costs one tensor's memory at a time.

import * as fs from 'node:fs';
import {
  SafetensorsError, decodeF32, decodeI32, decodeTensor, encodeSafetensorsFor, parseHeader, parseHeaderLength,
  type LoadedTensor, type ParsedHeader, type TensorInfo, type TensorToWrite,
} from './safetensors_format.js';

export * from './safetensors_format.js';

/** A safetensors file opened for random access to its tensors (Node only). */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly tensors: Map<string, TensorInfo>;
  private readonly dataStart: number;
  private fd: number | undefined;

  private constructor(filePath: string, fd: number, header: ParsedHeader) {
    this.path = filePath;
    this.fd = fd;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.dataStart = header.dataStart;
  }

  /** Reads and validates only the length prefix and the header; tensors are read on demand. */
  static open(filePath: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(filePath, 'r');
    } catch (e) {
      throw new SafetensorsError(filePath, `cannot open: ${(e as Error).message}`);
    }
    try {
      const fileSize = fs.fstatSync(fd).size;
      const headerLength = parseHeaderLength(readAt(fd, 0, Math.min(8, fileSize), filePath), fileSize, filePath);
      const headerBytes = readAt(fd, 8, headerLength, filePath);
      return new SafetensorsFile(filePath, fd, parseHeader(headerBytes, fileSize, filePath));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Tensor names in header order. */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** The tensor's raw bytes, in a fresh ArrayBuffer of exactly that length. */
  readBytes(name: string): Uint8Array {
    const info = this.info(name);
    return readAt(this.openFd(), this.dataStart + info.begin, info.end - info.begin, this.path);
  }

  /** Any numeric dtype, widened or narrowed to float32 (F64 and I64 round to nearest). */
  readF32(name: string): Float32Array {
    return decodeF32(this.info(name).dtype, this.readBytes(name));
  }

  /** Integer dtypes as int32; I64 values must fit (token ids, indices), else this throws. */
  readI32(name: string): Int32Array {
    const info = this.info(name);
    return decodeI32(info, this.readBytes(name), this.path);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (info === undefined) {
      throw new SafetensorsError(this.path, `no tensor named ${JSON.stringify(name)} (the file has ${this.tensors.size} tensors)`);
    }
    return info;
  }

  private openFd(): number {
    if (this.fd === undefined) throw new SafetensorsError(this.path, 'file is closed');
    return this.fd;
  }
}

/** Exactly `length` bytes at `position`, in a fresh (non-shared, offset-0) ArrayBuffer. */
function readAt(fd: number, position: number, length: number, filePath: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  // readSync may return fewer bytes than asked (large reads are capped per call).
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, position + done);
    if (n === 0) {
      throw new SafetensorsError(filePath, `unexpected end of file at byte ${position + done} (file changed while open?)`);
    }
    done += n;
  }
  return out;
}

/** Every tensor of a (small) file, floats as Float32Array and integers as Int32Array. */
export function readSafetensors(filePath: string): { metadata: Record<string, string>; tensors: Map<string, LoadedTensor> } {
  const file = SafetensorsFile.open(filePath);
  try {
    const tensors = new Map<string, LoadedTensor>();
    for (const info of file.tensors.values()) {
      tensors.set(info.name, decodeTensor(info, file.readBytes(info.name), filePath));
    }
    return { metadata: file.metadata, tensors };
  } finally {
    file.close();
  }
}

/**
 * Writes atomically: the bytes go to a temporary file in the same directory (so the rename
 * stays on one filesystem), which is then renamed over `filePath`. Readers see either the
 * old file or the new one, never a half-written one, and a failure leaves the old file intact.
 */
export function writeSafetensors(filePath: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const bytes = encodeSafetensorsFor(tensors, metadata, filePath); // before touching the disk: bad input changes nothing
  const tmp = `${filePath}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, bytes);
      fs.fsyncSync(fd); // data on disk before the rename makes it visible
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, filePath);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // Keep reporting the original failure, which is the one worth reading.
    }
    throw new SafetensorsError(filePath, `write failed: ${(e as Error).message}`);
  }
}
