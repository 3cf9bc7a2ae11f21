// The safetensors format (https://github.com/huggingface/safetensors), with no I/O: header validation,
// tensor decoding and encoding. The Node file reader (safetensors.ts) and the asynchronous reader over
// any byte source (safetensors_source.ts: files, HTTP ranges, browser Blobs) both use these, so the
// format code exists once.
//
// Layout of a file:
//
//   bytes [0, 8)          N, the header length: an unsigned 64-bit little-endian integer
//   bytes [8, 8+N)        the header: a UTF-8 JSON object, padded at the end with spaces
//                         (writers pad so that the data section starts 8-byte aligned)
//   bytes [8+N, EOF)      the data section: every tensor's raw little-endian bytes
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]},
// where begin/end are byte offsets RELATIVE TO THE START OF THE DATA SECTION (not the
// file). An optional "__metadata__" entry maps strings to strings; this project keeps
// op parameters, tolerances and provenance there (JSON-in-a-string where it needs more).
//
// Readers check the header thoroughly up front, because a bad offset would otherwise surface much
// later as garbage weights or a confusing GPU error.

import { DTYPE_SIZE, SAFE_DTYPES, bf16ToF32, f16ToF32, isSafeDType, type SafeDType } from './dtype.js';

export type { SafeDType } from './dtype.js';

/** Every message reads "<file>: <problem>", so a failure in a batch of fixtures is easy to place. */
export class SafetensorsError extends Error {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'SafetensorsError';
    this.file = file;
    this.problem = problem;
  }
}

export interface TensorInfo {
  name: string;
  dtype: SafeDType;
  shape: number[];
  /** Byte offsets relative to the start of the data section; end is exclusive. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
  /** Absolute file offset of the data section: 8 + header length. */
  dataStart: number;
}

/** A tensor to write. `data` is the raw element bytes (e.g. Uint16Array of bits for F16/BF16). */
export interface TensorToWrite {
  dtype: SafeDType;
  shape: number[];
  data: ArrayBufferView;
}

export interface LoadedTensor {
  dtype: SafeDType;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Same cap as the reference Rust implementation: a larger "header" means a corrupt file. */
const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

// Typed-array views read in host byte order and the format is little-endian. Every
// platform Node and Dawn run on is little-endian, but say so loudly rather than
// return byte-swapped weights if that ever changes.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------
// Header parsing

/**
 * Validates a header (the N JSON bytes after the length prefix) of a file of `fileSize`
 * bytes. Throws SafetensorsError naming `fileName` and the first problem found.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, fileName: string): ParsedHeader {
  const fail = (problem: string): never => {
    throw new SafetensorsError(fileName, problem);
  };
  const dataStart = 8 + headerBytes.length;
  if (dataStart > fileSize) {
    fail(`header length ${headerBytes.length} runs past the end of the file (${fileSize} bytes)`);
  }
  const text = decodeHeaderText(headerBytes, fail);
  const root = parseJsonObject(text, fail);
  const keys = topLevelKeys(text);
  const duplicate = firstDuplicate(keys);
  if (duplicate !== undefined) {
    fail(duplicate === METADATA_KEY ? `header has more than one ${METADATA_KEY}` : `duplicate tensor name ${JSON.stringify(duplicate)} in the header`);
  }

  let metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  // Walk the keys in file order: Object.entries would move integer-like names ("0", "1") first.
  for (const name of keys) {
    if (name === METADATA_KEY) metadata = parseMetadata(root[name], fail);
    else tensors.set(name, parseTensorEntry(name, root[name], fail));
  }
  checkNoOverlap([...tensors.values()], fail);
  checkDataFits([...tensors.values()], dataStart, fileSize, fail);
  return { metadata, tensors, dataStart };
}

type Fail = (problem: string) => never;

function decodeHeaderText(bytes: Uint8Array, fail: Fail): string {
  try {
    // fatal: a header with broken UTF-8 is corrupt; silently inserting U+FFFD would rename tensors.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
}

function parseJsonObject(text: string, fail: Fail): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(value)) fail(`header is not a JSON object (got ${describe(value)})`);
  return value as Record<string, unknown>;
}

function parseMetadata(entry: unknown, fail: Fail): Record<string, string> {
  if (!isPlainObject(entry)) return fail(`${METADATA_KEY} is not a JSON object (got ${describe(entry)})`);
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') {
      fail(`${METADATA_KEY} value for ${JSON.stringify(key)} is ${describe(value)}, not a string`);
    }
  }
  // fromEntries defines own properties, so even a key named "__proto__" stays plain data.
  return Object.fromEntries(Object.entries(entry)) as Record<string, string>;
}

function parseTensorEntry(name: string, entry: unknown, fail: Fail): TensorInfo {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(entry)) return fail(`${where}: entry is not a JSON object (got ${describe(entry)})`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isSafeDType(dtype)) {
    fail(`${where} has unknown dtype ${JSON.stringify(dtype)} (this reader supports ${SAFE_DTYPES.join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    fail(`${where}: shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    fail(`${where}: data_offsets ${JSON.stringify(offsets)} is not a pair [begin, end] of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`${where}: data_offsets [${begin}, ${end}] have begin > end`);
  const dims = shape as number[];
  const needed = byteLength(dims, dtype as SafeDType);
  if (end - begin !== needed) {
    fail(
      `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape ` +
        `[${dims.join(', ')}] x ${dtype} (${DTYPE_SIZE[dtype as SafeDType]} bytes) needs ${needed}`,
    );
  }
  return { name, dtype: dtype as SafeDType, shape: dims, begin, end };
}

function checkNoOverlap(infos: TensorInfo[], fail: Fail): void {
  // Empty tensors occupy no bytes, so they cannot collide with anything.
  const sorted = infos.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) {
      fail(
        `tensors ${JSON.stringify(prev.name)} [${prev.begin}, ${prev.end}] and ` +
          `${JSON.stringify(cur.name)} [${cur.begin}, ${cur.end}] have overlapping data_offsets`,
      );
    }
  }
}

function checkDataFits(infos: TensorInfo[], dataStart: number, fileSize: number, fail: Fail): void {
  let last: TensorInfo | undefined;
  for (const t of infos) if (last === undefined || t.end > last.end) last = t;
  if (last === undefined || dataStart + last.end <= fileSize) return;
  // One condition, two ways to read it: the header is wrong about this tensor, or the
  // file lost its tail (an interrupted download or copy). The message gives both.
  fail(
    `file is ${fileSize} bytes but the header says the data section ends at ${dataStart + last.end}: ` +
      `tensor ${JSON.stringify(last.name)} data_offsets [${last.begin}, ${last.end}] run past the end of ` +
      `the ${fileSize - dataStart}-byte data section (truncated file?)`,
  );
}

/**
 * The keys of the top-level JSON object, in order and including repeats. JSON.parse keeps
 * only the last of two equal keys, which would silently drop a tensor, so duplicates have
 * to be found in the text. Assumes `text` is valid JSON (JSON.parse has already said so),
 * which lets this skip values by tracking only nesting depth and string boundaries.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false; // true between a top-level '{' or ',' and the key that follows it
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const close = closingQuote(text, i);
      // Decode escapes so that "a" and "\u0061" count as the same key, as they do for JSON.parse.
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, close + 1)) as string);
      expectKey = false;
      i = close;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

/** Index of the '"' closing the string that opens at `open`, skipping escaped characters. */
function closingQuote(text: string, open: number): number {
  let i = open + 1;
  while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i;
}

function firstDuplicate(items: string[]): string | undefined {
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item)) return item;
    seen.add(item);
  }
  return undefined;
}


/**
 * The header length N from the file's first 8 bytes, checked against the file size and the cap.
 * Throws SafetensorsError naming `fileName`.
 */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, fileName: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new SafetensorsError(fileName, `file is ${fileSize} bytes, too short for the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new SafetensorsError(fileName, `header length ${n} runs past the end of the file (${fileSize} bytes)`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(fileName, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  return Number(n);
}

// ---------------------------------------------------------------------------------------
// Decoding a tensor's bytes

/** Any numeric dtype, widened or narrowed to float32 (F64 and I64 round to nearest). */
export function decodeF32(dtype: SafeDType, bytes: Uint8Array): Float32Array {
  switch (dtype) {
    case 'F32':
      return view(bytes, Float32Array);
    case 'F16':
      return f16ToF32(view(bytes, Uint16Array));
    case 'BF16':
      return bf16ToF32(view(bytes, Uint16Array));
    case 'F64':
      return new Float32Array(view(bytes, Float64Array));
    case 'I64':
      return Float32Array.from(view(bytes, BigInt64Array), (v) => Number(v));
    default:
      return new Float32Array(integerView(bytes, dtype));
  }
}

/** Integer dtypes as int32; I64 values must fit (token ids, indices), else this throws naming the tensor. */
export function decodeI32(info: TensorInfo, bytes: Uint8Array, fileName: string): Int32Array {
  const { dtype, name } = info;
  if (dtype === 'I64') return narrowI64(view(bytes, BigInt64Array), name, fileName);
  if (dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16') {
    throw new SafetensorsError(fileName, `tensor ${JSON.stringify(name)} has dtype ${dtype}; readI32 needs an integer dtype`);
  }
  const ints = integerView(bytes, dtype);
  return ints instanceof Int32Array ? ints : new Int32Array(ints);
}

/** Floats as Float32Array, integers as Int32Array: what readSafetensors returns per tensor. */
export function decodeTensor(info: TensorInfo, bytes: Uint8Array, fileName: string): LoadedTensor {
  const data = isFloat(info.dtype) ? decodeF32(info.dtype, bytes) : decodeI32(info, bytes, fileName);
  return { dtype: info.dtype, shape: info.shape, data };
}

function narrowI64(values: BigInt64Array, name: string, fileName: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < -2147483648n || v > 2147483647n) {
      throw new SafetensorsError(fileName, `tensor ${JSON.stringify(name)}: I64 value ${v} at index ${i} does not fit in int32`);
    }
    out[i] = Number(v);
  }
  return out;
}

type TypedArrayCtor<T> = {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/**
 * Reinterprets little-endian bytes as a typed array. A typed-array view must start at a
 * multiple of its element size and WebGPU (Dawn) rejects SharedArrayBuffer, so copy into
 * a fresh ArrayBuffer unless the bytes already sit in a suitable one.
 */
function view<T>(bytes: Uint8Array, Ctor: TypedArrayCtor<T>): T {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('safetensors: big-endian hosts are not supported');
  const size = Ctor.BYTES_PER_ELEMENT;
  const usable = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset % size === 0;
  const src = usable ? bytes : bytes.slice(); // slice() copies into a new, offset-0 ArrayBuffer
  return new Ctor(src.buffer as ArrayBuffer, src.byteOffset, src.byteLength / size);
}

function integerView(bytes: Uint8Array, dtype: 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL'): Int32Array | Int16Array | Int8Array | Uint8Array {
  switch (dtype) {
    case 'I32':
      return view(bytes, Int32Array);
    case 'I16':
      return view(bytes, Int16Array);
    case 'I8':
      return view(bytes, Int8Array);
    case 'U8':
    case 'BOOL':
      return view(bytes, Uint8Array);
  }
}
// ---------------------------------------------------------------------------------------
// Writing

/**
 * The bytes of a safetensors file holding `tensors` in the given order. Throws
 * SafetensorsError if a tensor's data length disagrees with its shape and dtype.
 */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  return encodeSafetensorsFor(tensors, metadata, '<encodeSafetensors>');
}

/** encodeSafetensors with errors naming `fileName` (the file about to be written). */
export function encodeSafetensorsFor(tensors: Record<string, TensorToWrite>, metadata: Record<string, string> | undefined, fileName: string): Uint8Array {
  const fail = (problem: string): never => {
    throw new SafetensorsError(fileName, problem);
  };
  if (!HOST_IS_LITTLE_ENDIAN) fail('big-endian hosts are not supported');
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[METADATA_KEY] = checkedMetadata(metadata, fail);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = checkedTensorBytes(name, t, fail);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const headerBytes = paddedHeader(header);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Header JSON padded with spaces to a multiple of 8 bytes, so tensor data starts 8-byte aligned. */
function paddedHeader(header: Record<string, unknown>): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

function checkedMetadata(metadata: Record<string, string>, fail: Fail): Record<string, string> {
  for (const [key, value] of Object.entries(metadata)) {
    // The type says string, but callers from plain JS or JSON can still pass numbers.
    if (typeof value !== 'string') fail(`${METADATA_KEY} value for ${JSON.stringify(key)} is ${describe(value)}, not a string`);
  }
  return metadata;
}

function checkedTensorBytes(name: string, t: TensorToWrite, fail: Fail): Uint8Array {
  const where = `tensor ${JSON.stringify(name)}`;
  if (name === METADATA_KEY) fail(`${METADATA_KEY} is reserved and cannot be a tensor name`);
  if (!isSafeDType(t.dtype)) fail(`${where} has unknown dtype ${JSON.stringify(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every(isNonNegativeInteger)) {
    fail(`${where}: shape ${JSON.stringify(t.shape)} is not an array of non-negative integers`);
  }
  const needed = byteLength(t.shape, t.dtype);
  if (t.data.byteLength !== needed) {
    fail(`${where}: data is ${t.data.byteLength} bytes but shape [${t.shape.join(', ')}] x ${t.dtype} (${DTYPE_SIZE[t.dtype]} bytes) needs ${needed}`);
  }
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}
// ---------------------------------------------------------------------------------------
// Small helpers

function byteLength(shape: number[], dtype: SafeDType): number {
  return shape.reduce((n, d) => n * d, 1) * DTYPE_SIZE[dtype];
}

export function isFloat(dtype: SafeDType): boolean {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short description of a JSON value's kind, for error messages. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v} (${JSON.stringify(v)})`;
}
