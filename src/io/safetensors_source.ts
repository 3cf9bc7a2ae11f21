// The asynchronous safetensors reader: the same format code as the Node file reader
// (safetensors_format.ts), over any ByteSource (a file, an HTTP URL read with Range requests, a
// browser File). Opening reads the 8-byte length and the header, two reads; each tensor is then one
// read of its own bytes, when it is asked for. No Node imports: part of the browser build.

import type { ParamDType, ParamEntry, ParamSource } from '../models/params.js';
import type { ByteSource } from './byte_source.js';
import {
  SafetensorsError, decodeF32, decodeI32, decodeTensor, parseHeader, parseHeaderLength,
  type LoadedTensor, type TensorInfo,
} from './safetensors_format.js';

export class SafetensorsSource {
  private constructor(
    readonly source: ByteSource,
    readonly metadata: Record<string, string>,
    readonly tensors: Map<string, TensorInfo>,
    private readonly dataStart: number,
  ) {}

  /** Reads and validates the length prefix and the header; throws SafetensorsError naming the source. */
  static async open(source: ByteSource): Promise<SafetensorsSource> {
    const name = source.name;
    const prefix = source.size >= 8 ? await readChecked(source, 0, 8) : new Uint8Array(0);
    const headerLength = parseHeaderLength(prefix, source.size, name);
    const header = parseHeader(await readChecked(source, 8, headerLength), source.size, name);
    return new SafetensorsSource(source, header.metadata, header.tensors, header.dataStart);
  }

  get name(): string {
    return this.source.name;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** Total bytes of tensor data (what loading every tensor fetches). */
  get dataBytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.end - t.begin;
    return n;
  }

  async readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    return readChecked(this.source, this.dataStart + info.begin, info.end - info.begin);
  }

  async readF32(name: string): Promise<Float32Array> {
    return decodeF32(this.info(name).dtype, await this.readBytes(name));
  }

  async readI32(name: string): Promise<Int32Array> {
    return decodeI32(this.info(name), await this.readBytes(name), this.name);
  }

  /** Every tensor (small files: kernel cases, io files), as readSafetensors returns them. */
  async readAll(): Promise<{ metadata: Record<string, string>; tensors: Map<string, LoadedTensor> }> {
    const tensors = new Map<string, LoadedTensor>();
    for (const info of this.tensors.values()) tensors.set(info.name, decodeTensor(info, await this.readBytes(info.name), this.name));
    return { metadata: this.metadata, tensors };
  }

  /**
   * The tensors as a ParamSource whose entries' `bytes()` are Promises: each tensor is fetched when a
   * loader asks for it. F32, F16 and BF16 come as stored; other dtypes (F64, integers) are converted
   * to F32, as ParamEntry requires. The read starts when the Promise is first awaited (not when
   * `bytes()` is called), so a loader that asks for many entries and awaits them one by one keeps one
   * tensor in flight and in memory at a time.
   */
  paramSource(): ParamSource {
    return (name) => {
      const info = this.tensors.get(name);
      if (!info) return undefined;
      const stored = info.dtype === 'F32' || info.dtype === 'F16' || info.dtype === 'BF16';
      const entry: ParamEntry = {
        shape: info.shape,
        dtype: (stored ? info.dtype : 'F32') as ParamDType,
        bytes: () => deferred(async () => (stored ? this.readBytes(name) : new Uint8Array((await this.readF32(name)).buffer))),
      };
      return entry;
    };
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }

  private info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(this.name, `no tensor named ${JSON.stringify(name)} (the file has ${this.tensors.size} tensors)`);
    return info;
  }
}

/**
 * A Promise whose work starts at its first `then` (an `await`), not at creation. It is a real Promise
 * subclass, so `instanceof Promise` tells loaders the value is asynchronous.
 */
class Deferred<T> extends Promise<T> {
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }
  private started: Promise<T> | undefined;
  private work: (() => Promise<T>) | undefined;
  override then<A = T, B = never>(onOk?: ((v: T) => A | PromiseLike<A>) | null, onErr?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.started ??= this.work!();
    return this.started.then(onOk, onErr);
  }
}

export function deferred<T>(work: () => Promise<T>): Promise<T> {
  const p = new Deferred<T>(() => {});
  (p as unknown as { work: () => Promise<T> }).work = work;
  return p;
}

/** A source read, with failures reported as SafetensorsError naming the source. */
async function readChecked(source: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await source.read(offset, length);
  } catch (e) {
    const msg = (e as Error).message;
    throw new SafetensorsError(source.name, msg.startsWith(`${source.name}: `) ? msg.slice(source.name.length + 2) : msg);
  }
  if (bytes.length !== length) throw new SafetensorsError(source.name, `read ${bytes.length} of ${length} bytes at ${offset}`);
  return bytes;
}
