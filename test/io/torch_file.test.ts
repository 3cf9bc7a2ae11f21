// torch.save files read without running code: the zip and legacy fixtures of every storage dtype, a
// transposed tensor and two views into one storage, against the values torch itself wrote
// (tensors.safetensors); and the errors for each malformed structure.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesReader } from '../../src/io/byte_reader.js';
import { PyGlobal, PyObject, unpickle } from '../../src/io/pickle.js';
import { readTorchFile, torchHooks, TorchTensor } from '../../src/io/torch_file.js';
import { openTorchFile } from '../../src/io/file_reader.js';
import { toF32 } from '../../src/io/torch_tensor.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { ZipArchive } from '../../src/io/zip.js';
import { buildZip } from './zip_builder.js';

/** A byte string as written (one byte per char; TextEncoder would UTF-8-encode \x80). */
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
export const CKPTS = join(import.meta.dirname, '..', 'fixtures', 'checkpoints');
const expected = readSafetensors(join(CKPTS, 'tensors.safetensors'));

describe.each(['tensors.pt', 'tensors.legacy.pt'])('%s', (file) => {
  it('reads every dtype, the scalar, the transposed tensor and both views with the values torch wrote', () => {
    const f = openTorchFile(join(CKPTS, file));
    try {
      expect(f.format).toBe(file.includes('legacy') ? 'legacy' : 'zip');
      const root = f.root as Map<string, unknown>;
      expect([...root.keys()].sort()).toEqual([...expected.tensors.keys()].sort());
      const dtypes = JSON.parse(expected.metadata.dtypes) as Record<string, string>;
      const ourName: Record<string, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', uint8: 'U8', int8: 'I8', bool: 'BOOL' };
      for (const [name, want] of expected.tensors) {
        const t = root.get(name) as TorchTensor;
        expect(t, name).toBeInstanceOf(TorchTensor);
        expect(t.shape, name).toEqual(want.shape);
        expect(t.dtype, name).toBe(ourName[dtypes[name]]);
        const got = toF32(t.dtype, f.tensorBytes(t));
        expect(Array.from(got), name).toEqual(Array.from(want.data, Number));
      }
      // The transposed tensor really is non-contiguous and the views really share a storage.
      const tr = root.get('transposed') as TorchTensor;
      expect(tr.stride).toEqual([1, 6]);
      const [a, b] = [root.get('view_a') as TorchTensor, root.get('view_b') as TorchTensor];
      expect(a.storage).toBe(b.storage);
      expect(a.offset).not.toBe(b.offset);
    } finally {
      f.close();
    }
  });
});

describe('tiny-vae.ckpt', () => {
  it('keeps the pytorch_lightning callback inert and names it; --strict refuses it by name', () => {
    const f = openTorchFile(join(CKPTS, 'tiny-vae.ckpt'));
    try {
      expect(f.inertGlobals).toEqual(['pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint']);
      const root = f.root as Map<unknown, unknown>;
      expect(root.get('global_step')).toBe(840000);
      // callbacks is keyed by the class itself: a symbol here, never imported.
      const [key] = [...(root.get('callbacks') as Map<unknown, unknown>).keys()];
      expect(key).toBeInstanceOf(PyGlobal);
      expect((key as PyGlobal).qualified).toBe('pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint');
    } finally {
      f.close();
    }
    expect(() => openTorchFile(join(CKPTS, 'tiny-vae.ckpt'), { strict: true })).toThrow(/tiny-vae\.ckpt.*pytorch_lightning\.callbacks\.model_checkpoint\.ModelCheckpoint.*--strict/);
  });
});

describe('malformed files', () => {
  const zipBytes = readFileSync(join(CKPTS, 'tensors.pt'));
  const legacyBytes = readFileSync(join(CKPTS, 'tensors.legacy.pt'));
  const load = (bytes: Uint8Array, name = 'bad.pt') => readTorchFile(bytesReader(bytes, name));

  it('names the file when it is neither zip nor pickle', () => {
    expect(() => load(new TextEncoder().encode('hello world'), 'x.ckpt')).toThrow(/^x\.ckpt: not a PyTorch file/);
  });
  it('refuses a truncated zip (no end of central directory)', () => {
    expect(() => load(zipBytes.subarray(0, zipBytes.length - 30))).toThrow(/bad\.pt: no zip end-of-central-directory/);
  });
  it('refuses a record name with ".." and duplicate records', () => {
    const b = Uint8Array.from(zipBytes);
    const text = Buffer.from(b).toString('latin1');
    // Rename record "tensors/data/0" in the central directory (the last occurrence of the name).
    const at = text.lastIndexOf('tensors/data/0');
    b.set(new TextEncoder().encode('tensors/../a/0'), at);
    expect(() => load(b)).toThrow(/zip record "tensors\/\.\.\/a\/0" contains "\.\."/);
    const c = Uint8Array.from(zipBytes);
    c.set(new TextEncoder().encode('tensors/data/1'), Buffer.from(c).toString('latin1').lastIndexOf('tensors/data/0'));
    expect(() => load(c)).toThrow(/zip record "tensors\/data\/1" appears twice/);
  });
  it('refuses a compressed data record', () => {
    const b = Uint8Array.from(zipBytes);
    const text = Buffer.from(b).toString('latin1');
    const name = text.lastIndexOf('tensors/data/3');
    new DataView(b.buffer).setUint16(name - 46 + 10, 8, true); // method = deflate in its central header
    expect(() => load(b)).toThrow(/zip record "tensors\/data\/3" is compressed/);
  });
  it('refuses a legacy file whose storage is cut short', () => {
    expect(() => load(legacyBytes.subarray(0, legacyBytes.length - 1))).toThrow(/bad\.pt: legacy storage .* is short/);
  });
  it('refuses a legacy file whose storage size field disagrees', () => {
    const b = Uint8Array.from(legacyBytes);
    const keysEnd = Buffer.from(b).toString('latin1').indexOf('.', 1400) + 1; // STOP of the key list
    new DataView(b.buffer).setBigInt64(keysEnd, 25n, true);
    expect(() => load(b)).toThrow(/holds 25 elements but its persistent id says 24/);
  });
});

describe('zip layouts torch writes', () => {
  const original = new Uint8Array(readFileSync(join(CKPTS, 'tensors.pt')));
  const zip = ZipArchive.open(bytesReader(original, 'tensors.pt'));
  const records = [...zip.records.keys()].reverse().map((n) => ({ name: n.replace(/^tensors\//, 'my weights-v2/'), data: zip.read(n) }));
  const values = (f: ReturnType<typeof readTorchFile>) => [...(f.root as Map<string, TorchTensor>)].map(([k, t]) => [k, Array.from(toF32(t.dtype, f.tensorBytes(t)))]);
  const want = values(readTorchFile(bytesReader(original, 'tensors.pt')));

  it('ZIP64 fields, another top folder, 64-byte aligned records in another order read the same', () => {
    for (const opts of [{ zip64: true }, { align: 64 }, { zip64: true, align: 64 }]) {
      const f = readTorchFile(bytesReader(buildZip(records, opts), 'z.pt'));
      expect(values(f), JSON.stringify(opts)).toEqual(want);
    }
  });
  it('refuses a big-endian byteorder record and a missing storage record, by name', () => {
    const be = [...records, { name: 'my weights-v2/byteorder', data: new TextEncoder().encode('big') }];
    expect(() => readTorchFile(bytesReader(buildZip(be), 'be.pt'))).toThrow(/be\.pt: byteorder is "big"/);
    const missing = records.filter((r) => !r.name.endsWith('/data/3'));
    expect(() => readTorchFile(bytesReader(buildZip(missing), 'm.pt'))).toThrow(/m\.pt: zip record "my weights-v2\/data\/3" is missing/);
  });
});

describe('byte sources', () => {
  it('the parsers import nothing from Node (a browser byte source can replace the file reader)', () => {
    for (const f of ['byte_reader', 'zip', 'pickle', 'torch_file', 'torch_tensor', 'openai_decoder']) {
      const src = readFileSync(join(import.meta.dirname, '../../src/io', `${f}.ts`), 'utf8');
      expect(src, f).not.toMatch(/from 'node:|require\(/);
    }
  });
  it('a file in memory parses through the same interface as one on disk', () => {
    const bytes = new Uint8Array(readFileSync(join(CKPTS, 'tensors.legacy.pt')));
    const mem = readTorchFile(bytesReader(bytes, 'mem.pt'));
    const disk = openTorchFile(join(CKPTS, 'tensors.legacy.pt'));
    const t = (f: typeof mem) => (f.root as Map<string, TorchTensor>).get('view_b')!;
    expect(mem.tensorBytes(t(mem))).toEqual(disk.tensorBytes(t(disk)));
    disk.close();
  });
});

describe('nothing is ever called', () => {
  it('GLOBAL os.system + REDUCE becomes an inert object naming the call; strict mode refuses it', () => {
    const pkl = latin1('\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.');
    const inert = new Set<string>();
    const v = unpickle(pkl, 'evil.pkl', torchHooks('evil.pkl', false, inert, () => null)).value;
    expect(v).toBeInstanceOf(PyObject);
    expect(((v as PyObject).callee as PyGlobal).qualified).toBe('os.system');
    expect((v as PyObject).args).toEqual(['id']);
    expect([...inert]).toEqual(['os.system']);
    expect(() => unpickle(pkl, 'evil.pkl', torchHooks('evil.pkl', true, new Set(), () => null))).toThrow(/evil\.pkl: the pickle names the global os\.system, which --strict refuses/);
  });
  it('a pickled "__proto__" key stays data in a Map', () => {
    const pkl = latin1('\x80\x02}(X\x09\x00\x00\x00__proto__X\x01\x00\x00\x00xu.');
    const v = unpickle(pkl, 'p.pkl', torchHooks('p.pkl', true, new Set(), () => null)).value as Map<string, unknown>;
    expect(v.get('__proto__')).toBe('x');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
  it('strict mode accepts the clean fixtures (torch types and TorchScript modules only)', () => {
    for (const f of ['tensors.pt', 'tensors.legacy.pt', 'tiny-vae.legacy.vae.pt', 'tiny-consistency-decoder.pt']) openTorchFile(join(CKPTS, f), { strict: true }).close();
  });
});
