import { rawToF32, storedFormat, type RawWeight, type WeightFormat, type WeightStorage } from '../kernels/weight_format.js';

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

/** Raw parameter bytes as a RawWeight (f32 values or 16-bit patterns), without converting. */
export function rawWeight(dtype: ParamDType, bytes: Uint8Array): RawWeight {
  const copy = bytes.byteOffset % 4 === 0 && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
  if (dtype === 'F32') return { format: 'f32', values: new Float32Array(copy.buffer as ArrayBuffer, copy.byteOffset, copy.byteLength / 4) };
  return { format: dtype === 'F16' ? 'f16' : 'bf16', bits: new Uint16Array(copy.buffer as ArrayBuffer, copy.byteOffset, copy.byteLength / 2) };
}

/** The values of raw parameter bytes as float32 (F16 and BF16 widened exactly). */
export function decodeParam(dtype: ParamDType, bytes: Uint8Array): Float32Array {
  return rawToF32(rawWeight(dtype, bytes));
}

/** The checkpoint dtype as a weight format. */
export const paramFormat = (d: ParamDType): WeightFormat => (d === 'F32' ? 'f32' : d === 'F16' ? 'f16' : 'bf16');

export type ParamSource = (name: string) => ParamEntry | undefined;

interface LoaderState {
  source: ParamSource;
  names: Set<string>;
  consumed: Set<string>;
  problems: string[];
  what: string;
  storage: WeightStorage;
  /** Reads of asynchronous sources, chained so that one tensor is in flight at a time. */
  pending: Promise<void>;
  /** Set once the source answered a read with a Promise. */
  async: boolean;
  /** LoaderOptions.deferReads. */
  defer: boolean;
  onProgress?: (loadedBytes: number) => void;
  loadedBytes: number;
}

export interface LoaderOptions {
  /** How weights are kept on the GPU (default 'as-stored': F16 and BF16 stay 16-bit). */
  storage?: WeightStorage;
  /** Called after each tensor arrives, with the bytes read so far. */
  onProgress?: (loadedBytes: number) => void;
  /**
   * Read a synchronous source's tensors as an asynchronous one's: after the model is built (chained,
   * one at a time), not inside its constructors, so that work can start between (loadFromSource's
   * `beforeRead`).
   */
  deferReads?: boolean;
}

export class ParamLoader {
  private constructor(private readonly s: LoaderState, readonly prefix: string) {}

  /** `names`: every tensor in the source, to report those no module consumed. */
  static from(source: ParamSource, names: Iterable<string>, what: string, opts: LoaderOptions = {}): ParamLoader {
    const state: LoaderState = {
      source, names: new Set(names), consumed: new Set(), problems: [], what,
      storage: opts.storage ?? 'as-stored', pending: Promise.resolve(), async: false, defer: opts.deferReads ?? false, onProgress: opts.onProgress, loadedBytes: 0,
    };
    return new ParamLoader(state, '');
  }

  /** How this model's weights are kept on the GPU. */
  get storage(): WeightStorage {
    return this.s.storage;
  }

  /** From an in-memory map (kernel cases, tests). */
  static fromMap(map: Map<string, { shape: readonly number[]; data: Float32Array | Int32Array }>, what: string, ignore: (n: string) => boolean = () => false, opts: LoaderOptions = {}): ParamLoader {
    const names = [...map.keys()].filter((n) => !ignore(n));
    return ParamLoader.from(
      (n) => {
        const t = map.get(n);
        return t && f32Entry(t.shape, () => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data)));
      },
      names,
      what,
      opts,
    );
  }

  sub(name: string | number): ParamLoader {
    return new ParamLoader(this.s, `${this.prefix}${name}.`);
  }

  has(name: string): boolean {
    return this.s.source(this.prefix + name) !== undefined;
  }

  /**
   * The entry of tensor `name` (relative to this scope), which must have `shape`; undefined (and a
   * recorded problem) when it is missing or has another shape.
   */
  entry(name: string, shape: readonly number[]): ParamEntry | undefined {
    const full = this.prefix + name;
    const e = this.s.source(full);
    if (!e) {
      this.s.problems.push(`missing: ${full} [${shape}]`);
      return undefined;
    }
    this.s.consumed.add(full);
    if (e.shape.length !== shape.length || e.shape.some((v, i) => v !== shape[i])) {
      this.s.problems.push(`wrong shape: ${full} is [${e.shape}], expected [${shape}]`);
      return undefined;
    }
    return e;
  }

  /**
   * Reads the tensors `specs` ([name, shape], relative to this scope) and hands their raw values to
   * `fill`: at once when the source is synchronous (files, memory), when the last one has arrived when
   * it fetches (then `loaded()` waits for it). Reads are chained, so one tensor is in flight and held
   * at a time, and each is uploaded as it arrives. Missing or mismatched tensors are recorded as
   * problems (see finish) and `fill` is not called: the module keeps its zeros.
   */
  read(specs: readonly (readonly [string, readonly number[]])[], fill: (raws: RawWeight[]) => void): void {
    const entries = specs.map(([name, shape]) => this.entry(name, shape));
    if (entries.some((e) => e === undefined)) return;
    const es = entries as ParamEntry[];
    const toRaw = (bytes: Uint8Array, i: number) => {
      this.s.loadedBytes += bytes.byteLength;
      return rawWeight(es[i].dtype, bytes);
    };
    const finishRead = (raws: RawWeight[]) => {
      fill(raws);
      this.s.onProgress?.(this.s.loadedBytes);
    };
    // A source is either synchronous (files, memory) or asynchronous (fetches) throughout. Once one
    // entry has answered with a Promise, every later bytes() call waits for the reads before it, so
    // an asynchronous source has one tensor in flight at a time.
    if (!this.s.async && !this.s.defer) {
      const first = es[0].bytes();
      if (!(first instanceof Promise)) {
        const got = [first, ...es.slice(1).map((e) => e.bytes())];
        if (got.every((b): b is Uint8Array => !(b instanceof Promise))) return finishRead(got.map(toRaw));
        throw new Error(`${this.s.what}: ${this.prefix}: a source must answer all reads synchronously or all with Promises`);
      }
      this.s.async = true;
      es[0] = { ...es[0], bytes: () => first };
    }
    this.s.pending = this.s.pending.then(async () => {
      const raws: RawWeight[] = [];
      for (let i = 0; i < es.length; i++) raws.push(toRaw(await es[i].bytes(), i));
      finishRead(raws);
    });
  }

  /**
   * The format tensor `name` (relative) will be kept in on the GPU: its checkpoint dtype under this
   * loader's storage policy (f32 when it is missing: the problem is reported when it is read).
   */
  formatOf(name: string): WeightFormat {
    const e = this.s.source(this.prefix + name);
    return storedFormat(e ? paramFormat(e.dtype) : 'f32', this.s.storage);
  }

  /** Reads one f32 tensor (norm weights, biases, tables: small, kept f32) and hands it to `fill`. */
  readF32(name: string, shape: readonly number[], fill: (values: Float32Array) => void): void {
    this.read([[name, shape]], ([r]) => fill(rawToF32(r)));
  }

  /** Waits for every read of an asynchronous source (nothing to wait for with a synchronous one). */
  loaded(): Promise<void> {
    return this.s.pending;
  }

  /** The tensor `name` as float32, from a synchronous source. Zeros (and a recorded problem) when missing or mismatched. */
  take(name: string, shape: readonly number[]): Float32Array {
    const e = this.entry(name, shape);
    if (!e) return new Float32Array(shape.reduce((a, b) => a * b, 1));
    const bytes = e.bytes();
    if (bytes instanceof Promise) throw new Error(`${this.s.what}: ${this.prefix + name} comes from an asynchronous source; read it with ParamLoader.read`);
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

/** What a model is built from: a config and named tensors (a checkpoint file, or fetched over HTTP). */
export interface ModelSource {
  /** Names the source in errors: a file path or a URL. */
  what: string;
  /** config.json contents ({} when there is none: the model infers it). */
  config: Record<string, unknown>;
  /** Names the config's problems in errors. */
  configFile: string;
  /** diffusers names of every tensor. */
  names: string[];
  source: ParamSource;
}

/** Options of every model's load: weight storage and load progress (LoaderOptions). */
export type LoadOptions = Omit<LoaderOptions, 'deferReads'>;

/**
 * Called once the model is built (every buffer made, the weights still zeros) and before any weight
 * is read; the load waits for what it returns after the last weight, so GPU work it starts overlaps
 * the reading (AutoencoderKL.prepareDecode).
 */
export type BeforeRead<M> = (model: M) => Promise<void>;

type Build<M> = (p: ParamLoader, config: Record<string, unknown>, configFile: string, names: string[], source: ParamSource) => M;

/**
 * Builds a model from a source: every module allocates its GPU buffers, then each tensor is read and
 * uploaded as it arrives (with `beforeRead`, all of them after it was called); every key is checked
 * (the half-built model is released on failure) and the uploads are awaited.
 */
export async function loadFromSource<M extends { release(): void }>(src: ModelSource, build: Build<M>, sync: () => Promise<void>, opts: LoadOptions = {}, beforeRead?: BeforeRead<M>): Promise<M> {
  const p = ParamLoader.from(src.source, src.names, src.what, { ...opts, deferReads: beforeRead !== undefined });
  const model = build(p, src.config, src.configFile, src.names, src.source);
  let before: Promise<void> | undefined;
  try {
    before = beforeRead?.(model);
    await p.loaded();
    await before;
    p.finish();
    await sync();
  } catch (e) {
    await Promise.allSettled([p.loaded(), before]); // nothing may still write into the model it releases
    model.release();
    throw e;
  }
  return model;
}

/**
 * Loads a model from a checkpoint file or folder (Node only: the io module is imported on demand, so
 * the core stays browser-safe), then closes the file.
 */
export async function loadFromCheckpoint<M extends { release(): void }>(path: string, build: Build<M>, sync: () => Promise<void>, opts: LoadOptions = {}, beforeRead?: BeforeRead<M>): Promise<M> {
  const { openCheckpoint } = await import('../io/weights.js');
  const ckpt = openCheckpoint(path);
  try {
    const src = { what: ckpt.weightsFile, config: ckpt.config, configFile: ckpt.configFile || ckpt.weightsFile, names: ckpt.names, source: ckpt.source };
    return await loadFromSource(src, build, sync, opts, beforeRead);
  } finally {
    ckpt.close();
  }
}
