import { bf16ToF32, f16ToF32 } from '../io/dtype.js';

// Loading parameters by their diffusers names. Each block takes a ParamLoader scoped to its own path
// (`decoder.up_blocks.0.resnets.1.`), so a block's fields are read with the same names as in the
// PyTorch module and the checkpoint. Problems are collected, not thrown one at a time: `finish()`
// raises one error listing every missing, unexpected and wrong-shape tensor with the expected shape.

/** How a checkpoint stores a parameter; readers convert any other dtype (F64, integers) to F32. */
export type ParamDType = 'F32' | 'F16' | 'BF16';

export interface ParamEntry {
  shape: readonly number[];
  dtype: ParamDType;
  /**
   * The raw little-endian values in `dtype`: a fresh ArrayBuffer-backed Uint8Array of exactly
   * numel * size bytes. Called once per tensor, when it is needed; synchronous for files, a Promise
   * for sources that fetch (HTTP ranges in a browser).
   */
  bytes(): Uint8Array | Promise<Uint8Array>;
}

/** An F32 entry computed on demand (tests, benchmarks, in-memory tensors). */
export function f32Entry(shape: readonly number[], values: () => Float32Array): ParamEntry {
  return { shape, dtype: 'F32', bytes: () => new Uint8Array(values().slice().buffer) };
}

/** The values of raw parameter bytes as float32 (F16 and BF16 widened exactly). */
export function decodeParam(dtype: ParamDType, bytes: Uint8Array): Float32Array {
  const copy = bytes.byteOffset % 4 === 0 && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
  if (dtype === 'F32') return new Float32Array(copy.buffer as ArrayBuffer, copy.byteOffset, copy.byteLength / 4);
  const u16 = new Uint16Array(copy.buffer as ArrayBuffer, copy.byteOffset, copy.byteLength / 2);
  return dtype === 'F16' ? f16ToF32(u16) : bf16ToF32(u16);
}

export type ParamSource = (name: string) => ParamEntry | undefined;

interface LoaderState {
  source: ParamSource;
  names: Set<string>;
  consumed: Set<string>;
  problems: string[];
  what: string;
}

export class ParamLoader {
  private constructor(private readonly s: LoaderState, readonly prefix: string) {}

  /** `names`: every tensor in the source, to report those no module consumed. */
  static from(source: ParamSource, names: Iterable<string>, what: string): ParamLoader {
    return new ParamLoader({ source, names: new Set(names), consumed: new Set(), problems: [], what }, '');
  }

  /** From an in-memory map (kernel cases, tests). */
  static fromMap(map: Map<string, { shape: readonly number[]; data: Float32Array | Int32Array }>, what: string, ignore: (n: string) => boolean = () => false): ParamLoader {
    const names = [...map.keys()].filter((n) => !ignore(n));
    return ParamLoader.from(
      (n) => {
        const t = map.get(n);
        return t && f32Entry(t.shape, () => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data)));
      },
      names,
      what,
    );
  }

  sub(name: string | number): ParamLoader {
    return new ParamLoader(this.s, `${this.prefix}${name}.`);
  }

  has(name: string): boolean {
    return this.s.source(this.prefix + name) !== undefined;
  }

  /** The tensor `name` (relative to this scope), which must have `shape`. Zeros (and a recorded problem) otherwise. */
  take(name: string, shape: readonly number[]): Float32Array {
    const full = this.prefix + name;
    const e = this.s.source(full);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!e) {
      this.s.problems.push(`missing: ${full} [${shape}]`);
      return new Float32Array(n);
    }
    this.s.consumed.add(full);
    if (e.shape.length !== shape.length || e.shape.some((v, i) => v !== shape[i])) {
      this.s.problems.push(`wrong shape: ${full} is [${e.shape}], expected [${shape}]`);
      return new Float32Array(n);
    }
    const bytes = e.bytes();
    if (bytes instanceof Promise) throw new Error(`${this.s.what}: ${full} comes from an asynchronous source; load it with the asynchronous loader`);
    return decodeParam(e.dtype, bytes);
  }

  /** Throws one error listing every problem, including tensors no module consumed. */
  finish(): void {
    const unexpected = [...this.s.names].filter((n) => !this.s.consumed.has(n)).map((n) => `unexpected: ${n}`);
    const all = [...this.s.problems, ...unexpected];
    if (all.length) throw new Error(`${this.s.what}: ${all.length} parameter problem(s):\n  ${all.join('\n  ')}`);
  }

  get consumedCount(): number {
    return this.s.consumed.size;
  }
}

/**
 * Loads a model from a checkpoint file or folder (Node only: the io module is imported on demand, so
 * the core stays browser-safe): opens it, builds the model from its config and tensors, checks every
 * key (releasing the half-built model on failure), waits for the uploads, and closes the file.
 */
export async function loadFromCheckpoint<M extends { release(): void }>(
  path: string,
  build: (p: ParamLoader, config: Record<string, unknown>, configFile: string, names: string[], source: ParamSource) => M,
  sync: () => Promise<void>,
): Promise<M> {
  const { openCheckpoint } = await import('../io/weights.js');
  const ckpt = openCheckpoint(path);
  try {
    const p = ParamLoader.from(ckpt.source, ckpt.names, ckpt.weightsFile);
    const model = build(p, ckpt.config, ckpt.configFile || ckpt.weightsFile, ckpt.names, ckpt.source);
    try {
      p.finish();
      await sync();
    } catch (e) {
      model.release();
      throw e;
    }
    return model;
  } finally {
    ckpt.close();
  }
}
