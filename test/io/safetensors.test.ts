import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/io/dtype.js';
import {
  SafetensorsError,
  SafetensorsFile,
  encodeSafetensors,
  parseHeader,
  readSafetensors,
  writeSafetensors,
} from '../../src/io/safetensors.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/reference/', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
function tmpPath(label: string): string {
  return path.join(dir, `${label}-${fileCounter++}.safetensors`);
}

/** A file with the given header text (padded), data, and optionally a lying length prefix. */
function rawFile(label: string, header: string, data = new Uint8Array(0), lengthPrefix?: bigint): string {
  const json = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, lengthPrefix ?? BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  const p = tmpPath(label);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Asserts that opening `file` fails with a SafetensorsError naming the file and matching `problem`. */
function expectOpenError(file: string, problem: RegExp): void {
  let error: unknown;
  try {
    SafetensorsFile.open(file).close();
  } catch (e) {
    error = e;
  }
  expectError(error, file, problem);
}

function expectError(error: unknown, file: string, problem: RegExp): void {
  expect(error).toBeInstanceOf(SafetensorsError);
  const message = (error as Error).message;
  expect(message).toContain(file);
  expect(message).toMatch(problem);
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

function bits32(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0]!;
}

function f16(...bitPatterns: number[]): Float32Array {
  return f16ToF32(new Uint16Array(bitPatterns));
}

function toF16(...values: number[]): number[] {
  return [...f32ToF16(new Float32Array(values))];
}

describe('f16 / bf16 conversion', () => {
  it('decodes known f16 bit patterns', () => {
    const [one, max, tiny, bigSub, minNormal, negZero, inf, negInf, nan] = f16(
      0x3c00, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00,
    );
    expect(one).toBe(1);
    expect(max).toBe(65504);
    expect(tiny).toBe(2 ** -24);
    expect(bigSub).toBe(1023 * 2 ** -24);
    expect(minNormal).toBe(2 ** -14);
    expect(Object.is(negZero, -0)).toBe(true);
    expect(inf).toBe(Infinity);
    expect(negInf).toBe(-Infinity);
    expect(nan).toBeNaN();
    expect(f16(0xc000)[0]).toBe(-2);
    expect(f16(0x3555)[0]).toBeCloseTo(1 / 3, 3);
  });

  it('encodes known values to f16 bit patterns', () => {
    expect(toF16(1, -2, 65504, 2 ** -24, 2 ** -14, 0)).toEqual([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x0000]);
    expect(toF16(-0, Infinity, -Infinity)).toEqual([0x8000, 0x7c00, 0xfc00]);
    expect(toF16(1e6, -1e6, 1e-10)).toEqual([0x7c00, 0xfc00, 0x0000]); // overflow to inf, underflow to 0
    const [nan] = toF16(NaN);
    expect(nan! & 0x7c00).toBe(0x7c00);
    expect(nan! & 0x3ff).not.toBe(0); // still a NaN, not inf
  });

  it('rounds to nearest, ties to even', () => {
    // Normal range: the f16 spacing just above 1 is 2^-10.
    expect(toF16(1 + 2 ** -11)).toEqual([0x3c00]); // tie between 0x3c00 (even) and 0x3c01
    expect(toF16(1 + 3 * 2 ** -11)).toEqual([0x3c02]); // tie between 0x3c01 and 0x3c02 (even)
    expect(toF16(1 + 2 ** -11 + 2 ** -20)).toEqual([0x3c01]); // just above the tie
    // Top of the range: 65520 is the tie between 65504 and 65536, which rounds "to even" = inf.
    expect(toF16(65519, 65520)).toEqual([0x7bff, 0x7c00]);
    // Subnormals: steps of 2^-24.
    expect(toF16(2 ** -25)).toEqual([0x0000]); // tie between 0 (even) and the smallest subnormal
    expect(toF16(2 ** -25 * 1.5)).toEqual([0x0001]);
    expect(toF16(3 * 2 ** -25)).toEqual([0x0002]); // tie between 1 and 2 (even)
    expect(toF16(5 * 2 ** -25)).toEqual([0x0002]); // tie between 2 (even) and 3
    expect(toF16(2 ** -14 - 2 ** -26)).toEqual([0x0400]); // rounds up out of the subnormals
  });

  it('round-trips every f16 bit pattern through f32', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) expect(back[h]! & 0x7fff, `0x${h.toString(16)}`).toBeGreaterThan(0x7c00);
      else if (back[h] !== h) expect.fail(`0x${h.toString(16)} came back as 0x${back[h]!.toString(16)}`);
    }
  });

  it('f32 -> f16 picks the nearest f16 (random f32 values)', () => {
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const values = new Float32Array(20000).map(() => (random() - 0.5) * 2 ** Math.floor(random() * 40 - 28));
    const halves = f32ToF16(values);
    const back = f16ToF32(halves);
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      const err = Math.abs(back[i]! - x);
      // Neither neighbouring f16 may be strictly closer.
      for (const neighbour of f16(halves[i]! - 1, halves[i]! + 1)) {
        if (Math.abs(neighbour - x) < err) expect.fail(`${x} -> ${back[i]}, but ${neighbour} is closer`);
      }
    }
  });

  it('converts bf16', () => {
    expect([...bf16ToF32(new Uint16Array([0x3f80, 0xc000, 0x4049, 0x7f80, 0x8000]))]).toEqual([1, -2, 3.140625, Infinity, -0]);
    expect(bf16ToF32(new Uint16Array([0x7fc0]))[0]).toBeNaN();
    expect([...f32ToBf16(new Float32Array([1, Math.PI, -2]))]).toEqual([0x3f80, 0x4049, 0xc000]);
    // 1 + 2^-8 is the tie between 0x3f80 (even) and 0x3f81.
    expect([...f32ToBf16(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8]))]).toEqual([0x3f80, 0x3f82]);
    expect(bits32(bf16ToF32(f32ToBf16(new Float32Array([NaN])))[0]!) & 0x7fffff).not.toBe(0);
  });
});

describe('round trip', () => {
  const f32 = new Float32Array([1.5, -2.25, 0, 3e-8, 1e30, -0]);
  const f16vals = new Float32Array([1, -0.5, 65504, 2 ** -24, 0.333251953125, -7]); // all exact in f16
  const bf16vals = new Float32Array([1, -2, 3.140625, 2 ** 100, 0, -0.0078125]); // all exact in bf16
  const i32 = new Int32Array([0, -1, 2147483647, -2147483648, 42, 7]);
  const i64 = new BigInt64Array([0n, -1n, 2147483647n, -2147483648n, 42n, 7n]);
  const metadata = { op: 'test', params: JSON.stringify({ a: [1, 2] }), 'ünïcode ✓': 'välue' };

  it('writes and reads back F32/F16/BF16/I32/I64 and metadata', () => {
    const p = tmpPath('roundtrip');
    writeSafetensors(
      p,
      {
        f32: { dtype: 'F32', shape: [2, 3], data: f32 },
        f16: { dtype: 'F16', shape: [6], data: f32ToF16(f16vals) },
        bf16: { dtype: 'BF16', shape: [3, 2], data: f32ToBf16(bf16vals) },
        i32: { dtype: 'I32', shape: [6], data: i32 },
        i64: { dtype: 'I64', shape: [1, 6], data: i64 },
        empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
        scalar: { dtype: 'F64', shape: [], data: new Float64Array([0.1]) },
      },
      metadata,
    );
    const file = SafetensorsFile.open(p);
    try {
      expect(file.path).toBe(p);
      expect(file.metadata).toEqual(metadata);
      expect(file.names()).toEqual(['f32', 'f16', 'bf16', 'i32', 'i64', 'empty', 'scalar']);
      expect(file.tensors.get('bf16')).toMatchObject({ dtype: 'BF16', shape: [3, 2], begin: 36, end: 48 });
      expect(file.readF32('f32')).toEqual(f32);
      expect(Object.is(file.readF32('f32')[5], -0)).toBe(true);
      expect(file.readF32('f16')).toEqual(f16vals);
      expect(file.readF32('bf16')).toEqual(bf16vals);
      expect(file.readI32('i32')).toEqual(i32);
      expect(file.readI32('i64')).toEqual(i32);
      expect(file.readF32('i64')).toEqual(new Float32Array(i32));
      expect(file.readF32('empty')).toEqual(new Float32Array(0));
      expect(file.readF32('scalar')).toEqual(new Float32Array([0.1]));
      expect(file.readBytes('i32')).toEqual(new Uint8Array(i32.buffer));
      for (const name of file.names()) {
        const data = name.startsWith('i') ? file.readI32(name) : file.readF32(name);
        expect(data.buffer).toBeInstanceOf(ArrayBuffer); // never a SharedArrayBuffer
      }
    } finally {
      file.close();
    }
    const all = readSafetensors(p);
    expect(all.metadata).toEqual(metadata);
    expect(all.tensors.get('i64')).toEqual({ dtype: 'I64', shape: [1, 6], data: i32 });
    expect(all.tensors.get('f16')?.data).toEqual(f16vals);
  });

  it('pads the header with spaces to a multiple of 8 and lays data out in order', () => {
    const bytes = encodeSafetensors({ b: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) }, a: { dtype: 'F32', shape: [1], data: new Float32Array([2]) } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(header).toMatch(/^\{.*\} *$/);
    expect(JSON.parse(header)).toEqual({
      b: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
      a: { dtype: 'F32', shape: [1], data_offsets: [3, 7] },
    });
    expect(bytes.length).toBe(8 + n + 7);
    expect([...bytes.subarray(8 + n, 8 + n + 3)]).toEqual([1, 2, 3]);
  });

  it('keeps header order, even for integer-like names, and treats "__proto__" as a plain name', () => {
    const u8 = (begin: number) => JSON.stringify({ dtype: 'U8', shape: [1], data_offsets: [begin, begin + 1] });
    const file = SafetensorsFile.open(rawFile('order', `{"b": ${u8(0)}, "1": ${u8(1)}, "__proto__": ${u8(2)}}`, new Uint8Array([5, 6, 7])));
    try {
      expect(file.names()).toEqual(['b', '1', '__proto__']); // Object.entries would put "1" first
      expect([...file.readBytes('1')]).toEqual([6]);
      expect([...file.readBytes('__proto__')]).toEqual([7]);
    } finally {
      file.close();
    }
  });

  it('reads float32 tensors that sit at unaligned file offsets', () => {
    const p = tmpPath('unaligned');
    writeSafetensors(p, {
      pad: { dtype: 'U8', shape: [3], data: new Uint8Array([9, 9, 9]) },
      x: { dtype: 'F32', shape: [2], data: new Float32Array([0.25, -4]) },
      y: { dtype: 'F16', shape: [1], data: f32ToF16(new Float32Array([3])) },
    });
    const { tensors } = readSafetensors(p);
    expect(tensors.get('pad')?.data).toEqual(new Int32Array([9, 9, 9]));
    expect(tensors.get('x')?.data).toEqual(new Float32Array([0.25, -4]));
    expect(tensors.get('y')?.data).toEqual(new Float32Array([3]));
  });

  it('refuses I64 values outside int32 in readI32', () => {
    const p = tmpPath('i64big');
    writeSafetensors(p, { ids: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n ** 40n]) } });
    const file = SafetensorsFile.open(p);
    try {
      expectError(catchError(() => file.readI32('ids')), p, /tensor "ids": I64 value 1099511627776 at index 1 does not fit in int32/);
      expect(file.readF32('ids')).toEqual(new Float32Array([1, 2 ** 40]));
    } finally {
      file.close();
    }
  });
});

describe('reference fixtures', () => {
  it('reads kernels/conv2d_k1_c8to8_5x3', () => {
    const p = path.join(FIXTURES, 'kernels', 'conv2d_k1_c8to8_5x3.safetensors');
    const file = SafetensorsFile.open(p);
    try {
      expect(file.names().sort()).toEqual(['bias', 'expected', 'input', 'weight']);
      expect(file.tensors.get('bias')?.shape).toEqual([8]);
      expect(file.tensors.get('input')?.shape).toEqual([1, 8, 5, 3]);
      expect(file.tensors.get('expected')?.shape).toEqual([1, 8, 5, 3]);
      expect(file.tensors.get('weight')?.shape).toEqual([8, 8, 1, 1]);
      expect(file.metadata.op).toBe('conv2d');
      expect(JSON.parse(file.metadata.params!)).toMatchObject({ cin: 8, cout: 8, kernel: [1, 1] });
      expect(Number(file.metadata.atol)).toBeGreaterThan(0);
      const input = file.readF32('input');
      expect(input.length).toBe(8 * 5 * 3);
      expect(input.every(Number.isFinite)).toBe(true);
    } finally {
      file.close();
    }
  });

  it('reads models/tiny-vae/io', () => {
    const { metadata, tensors } = readSafetensors(path.join(FIXTURES, 'models', 'tiny-vae', 'io.safetensors'));
    const cases: unknown = JSON.parse(metadata.cases!);
    expect(Array.isArray(cases)).toBe(true);
    const image = tensors.get('image');
    expect(image?.shape).toEqual([1, 3, 32, 32]);
    expect(image?.data.length).toBe(3 * 32 * 32);
  });
});

describe('bad files', () => {
  const goodTensor = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

  it('truncated file', () => {
    const full = encodeSafetensors({ a: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
    const p = tmpPath('truncated');
    fs.writeFileSync(p, full.subarray(0, full.length - 5));
    expectOpenError(p, new RegExp(`file is ${full.length - 5} bytes but the header says the data section ends at ${full.length}`));
  });

  it('header length past the end of the file', () => {
    const p = rawFile('headerlen', JSON.stringify({ a: goodTensor }), new Uint8Array(8), 5000n);
    expectOpenError(p, /header length 5000 runs past the end of the file \(\d+ bytes\)/);
  });

  it('file shorter than the length prefix', () => {
    const p = tmpPath('tiny');
    fs.writeFileSync(p, new Uint8Array(5));
    expectOpenError(p, /file is 5 bytes, too short for the 8-byte header length/);
  });

  it('invalid JSON', () => {
    const p = rawFile('badjson', '{"a": {"dtype": "F32",');
    expectOpenError(p, /header is not valid JSON/);
  });

  it('header that is not a JSON object', () => {
    const p = rawFile('array', '[1, 2]');
    expectOpenError(p, /header is not a JSON object \(got an array\)/);
  });

  it('unknown dtype', () => {
    const p = rawFile('dtype', JSON.stringify({ a: { ...goodTensor, dtype: 'F8_E4M3' } }), new Uint8Array(8));
    expectOpenError(p, /tensor "a" has unknown dtype "F8_E4M3"/);
  });

  it('overlapping data_offsets', () => {
    const header = { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };
    const p = rawFile('overlap', JSON.stringify(header), new Uint8Array(24));
    expectOpenError(p, /tensors "a" \[0, 16\] and "b" \[8, 24\] have overlapping data_offsets/);
  });

  it('data_offsets running past the data section', () => {
    const header = { a: goodTensor, b: { dtype: 'F32', shape: [2], data_offsets: [64, 72] } };
    const p = rawFile('pastend', JSON.stringify(header), new Uint8Array(16));
    expectOpenError(p, /tensor "b" data_offsets \[64, 72\] run past the end of the 16-byte data section/);
  });

  it('data_offsets disagreeing with shape x dtype', () => {
    const p = rawFile('size', JSON.stringify({ w: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 24] } }), new Uint8Array(24));
    expectOpenError(p, /tensor "w": data_offsets \[0, 24\] hold 24 bytes but shape \[2, 3\] x F16 \(2 bytes\) needs 12/);
  });

  it('duplicate tensor names', () => {
    // JSON.parse would quietly keep only the second "w"; the second spelling uses an escape on purpose.
    const header = `{"w": ${JSON.stringify(goodTensor)}, "\\u0077": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}`;
    const p = rawFile('dup', header, new Uint8Array(16));
    expectOpenError(p, /duplicate tensor name "w" in the header/);
  });

  it('a non-string metadata value', () => {
    const p = rawFile('meta', JSON.stringify({ __metadata__: { op: 'conv2d', atol: 1e-5 }, a: goodTensor }), new Uint8Array(8));
    expectOpenError(p, /__metadata__ value for "atol" is a number \(0.00001\), not a string/);
  });

  it('reading an unknown tensor name', () => {
    const p = tmpPath('unknown');
    writeSafetensors(p, { a: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    const file = SafetensorsFile.open(p);
    try {
      expectError(catchError(() => file.readF32('nope')), p, /no tensor named "nope"/);
      expectError(catchError(() => file.readBytes('nope')), p, /no tensor named "nope"/);
    } finally {
      file.close();
    }
  });

  it('a missing file', () => {
    const p = path.join(dir, 'does-not-exist.safetensors');
    expectOpenError(p, /cannot open: ENOENT/);
  });

  it('rejects other malformed entries (parseHeader)', () => {
    const cases: [unknown, RegExp][] = [
      [{ a: { ...goodTensor, shape: [2, -1] } }, /tensor "a": shape \[2,-1\] is not an array of non-negative integers/],
      [{ a: { ...goodTensor, shape: [1.5] } }, /shape \[1.5\] is not an array/],
      [{ a: { ...goodTensor, shape: '2' } }, /shape "2" is not an array/],
      [{ a: { ...goodTensor, data_offsets: [8, 0] } }, /tensor "a": data_offsets \[8, 0\] have begin > end/],
      [{ a: { ...goodTensor, data_offsets: [0] } }, /tensor "a": data_offsets \[0\] is not a pair/],
      [{ a: { ...goodTensor, data_offsets: [0, '8'] } }, /data_offsets \[0,"8"\] is not a pair/],
      [{ a: 3 }, /tensor "a": entry is not a JSON object/],
      [{ __metadata__: ['x'] }, /__metadata__ is not a JSON object \(got an array\)/],
    ];
    for (const [header, problem] of cases) {
      const bytes = new TextEncoder().encode(JSON.stringify(header));
      expectError(catchError(() => parseHeader(bytes, 8 + bytes.length + 64, 'fake.safetensors')), 'fake.safetensors', problem);
    }
  });

  it('accepts duplicate keys nested below the top level (they are not tensor names)', () => {
    const header = `{"__metadata__": {"k": "{\\"x\\": 1, \\"x\\": 2}"}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "shape": [2]}}`;
    const bytes = new TextEncoder().encode(header);
    const parsed = parseHeader(bytes, 8 + bytes.length + 8, 'nested.safetensors');
    expect([...parsed.tensors.keys()]).toEqual(['a']);
    expect(parsed.dataStart).toBe(8 + bytes.length);
  });
});

describe('writeSafetensors', () => {
  const v1 = { a: { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) } };
  const v2 = { b: { dtype: 'I32' as const, shape: [3], data: new Int32Array([7, 8, 9]) } };

  function fresh(label: string): { folder: string; file: string } {
    const folder = fs.mkdtempSync(path.join(dir, `${label}-`));
    return { folder, file: path.join(folder, 'out.safetensors') };
  }

  it('leaves no temp file behind', () => {
    const { folder, file } = fresh('notmp');
    writeSafetensors(file, v1, { note: 'v1' });
    expect(fs.readdirSync(folder)).toEqual(['out.safetensors']);
    expect(readSafetensors(file).metadata).toEqual({ note: 'v1' });
  });

  it('replaces an existing file atomically (by rename, not by rewriting it)', () => {
    const { folder, file } = fresh('replace');
    writeSafetensors(file, v1);
    const oldBytes = fs.readFileSync(file);
    const reader = fs.openSync(file, 'r'); // a reader that opened the old file mid-replace...
    try {
      writeSafetensors(file, v2);
      const seen = Buffer.alloc(oldBytes.length);
      fs.readSync(reader, seen, 0, seen.length, 0);
      expect(seen.equals(oldBytes)).toBe(true); // ...still sees the complete old file
    } finally {
      fs.closeSync(reader);
    }
    expect(readSafetensors(file).tensors.get('b')?.data).toEqual(new Int32Array([7, 8, 9]));
    expect(fs.readdirSync(folder)).toEqual(['out.safetensors']);
  });

  it('an encode error names the tensor and leaves the old file intact', () => {
    const { folder, file } = fresh('encodeerr');
    writeSafetensors(file, v1);
    const before = fs.readFileSync(file);
    const bad = { w: { dtype: 'F16' as const, shape: [4], data: new Float32Array(4) } };
    expectError(catchError(() => writeSafetensors(file, bad)), file, /tensor "w": data is 16 bytes but shape \[4\] x F16 \(2 bytes\) needs 8/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(folder)).toEqual(['out.safetensors']);
  });

  it('removes the temp file when the rename fails', () => {
    const { folder } = fresh('renamefail');
    const target = path.join(folder, 'occupied');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'x'); // a non-empty directory cannot be renamed over
    expectError(catchError(() => writeSafetensors(target, v1)), target, /write failed/);
    expect(fs.readdirSync(folder)).toEqual(['occupied']);
  });

  it('encodeSafetensors rejects bad input with a clear message', () => {
    expect(() => encodeSafetensors({ __metadata__: v1.a })).toThrow(/__metadata__ is reserved/);
    expect(() => encodeSafetensors(v1, { n: 1 as unknown as string })).toThrow(/__metadata__ value for "n" is a number/);
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [-1], data: new Float32Array(0) } })).toThrow(/shape \[-1\]/);
  });
});
