// Byte sources (Node file, in-memory bytes, Blob) and the asynchronous safetensors reader over them:
// the same bytes and the same errors as the Node file reader, since both use safetensors_format.ts;
// fuzzed against it with random corruptions of a valid file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blobSource, bytesSource, trackProgress, type ByteSource, type LoadProgress, type SyncByteSource } from '../../src/io/byte_source.js';
import { bytesReader } from '../../src/io/byte_reader.js';
import { fileSource } from '../../src/io/byte_source_node.js';
import { SafetensorsError, SafetensorsFile, encodeSafetensors } from '../../src/io/safetensors.js';
import { SafetensorsSource } from '../../src/io/safetensors_source.js';
import { FIXTURES } from '../helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const VAE = path.join(FIXTURES, 'models/tiny-vae/diffusion_pytorch_model.safetensors');

/** A synchronous source behind the asynchronous interface (its throws become rejections), so one table tests both forms. */
const asAsync = (s: SyncByteSource): ByteSource => ({ name: s.name, size: s.size, read: async (o, n) => s.read(o, n), close: () => s.close() });

describe('byte sources', () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
  const file = path.join(dir, 'bytes.bin');
  fs.writeFileSync(file, bytes);
  const makers: [string, () => Promise<ByteSource>][] = [
    ['fileSource', () => fileSource(file)],
    ['bytesSource', async () => bytesSource(bytes, 'mem')],
    ['blobSource', async () => blobSource(new Blob([bytes]), 'blob')],
    // A Node Buffer's slice() shares memory: the in-memory sources must still return copies.
    ['bytesSource over a Buffer', async () => bytesSource(Buffer.from(bytes), 'buffer')],
    // The PyTorch readers' synchronous in-memory source, its reads wrapped in promises.
    ['bytesReader', async () => asAsync(bytesReader(Buffer.from(bytes), 'sync'))],
  ];
  for (const [label, make] of makers) {
    it(`${label}: positioned reads return exactly those bytes, in fresh buffers`, async () => {
      const s = await make();
      expect(s.size).toBe(1000);
      for (const [o, n] of [[0, 8], [3, 17], [990, 10], [500, 0], [0, 1000]]) {
        const got = await s.read(o, n);
        expect(got).toEqual(bytes.slice(o, o + n));
        expect(got.byteOffset).toBe(0);
        expect(got.buffer.byteLength).toBe(n);
      }
      await s.close?.();
    });
    it(`${label}: a read past the end or at a negative offset names the source`, async () => {
      const s = await make();
      await expect(s.read(995, 10)).rejects.toThrow(new RegExp(`${s.name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: read of bytes \\[995, 1005\\) runs past the end \\(1000 bytes\\)`));
      await expect(s.read(-1, 2)).rejects.toThrow(/invalid read/);
      await s.close?.();
    });
  }

  it('fileSource: a missing file and a closed file are reported', async () => {
    await expect(fileSource(path.join(dir, 'nope.bin'))).rejects.toThrow(/nope\.bin: cannot open/);
    const s = await fileSource(file);
    await s.close!();
    await expect(s.read(0, 1)).rejects.toThrow(/file is closed/);
  });

  it('trackProgress reports bytes read of the total after each read', async () => {
    const seen: LoadProgress[] = [];
    const [a, b] = trackProgress([bytesSource(bytes, 'a'), bytesSource(bytes.slice(0, 500), 'b')], (p) => seen.push(p));
    await a!.read(0, 100);
    await b!.read(0, 500);
    expect(seen.map((p) => [p.name, p.loaded, p.total])).toEqual([['a', 100, 1500], ['b', 600, 1500]]);
  });
});

describe('SafetensorsSource (the asynchronous reader)', () => {
  it('reads every tensor of a checkpoint exactly as the Node file reader does, over each source', async () => {
    const sync = SafetensorsFile.open(VAE);
    const whole = fs.readFileSync(VAE);
    for (const src of [await fileSource(VAE), bytesSource(new Uint8Array(whole), VAE), blobSource(new Blob([whole]), VAE)]) {
      const st = await SafetensorsSource.open(src);
      expect(st.names()).toEqual(sync.names());
      expect(st.metadata).toEqual(sync.metadata);
      const differing: string[] = [];
      for (const name of st.names()) if (!Buffer.from(await st.readBytes(name)).equals(sync.readBytes(name))) differing.push(name);
      expect(differing).toEqual([]);
      await st.close();
    }
    sync.close();
  });

  it('readAll and paramSource give decoded tensors and stored-dtype entries with Promise bytes', async () => {
    const f16 = new Uint16Array([0x3c00, 0xc000]); // 1, -2
    const enc = encodeSafetensors({ h: { dtype: 'F16', shape: [2], data: f16 }, i: { dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) } }, { k: 'v' });
    const st = await SafetensorsSource.open(bytesSource(enc, 'x.safetensors'));
    const all = await st.readAll();
    expect(all.metadata).toEqual({ k: 'v' });
    expect(Array.from(all.tensors.get('h')!.data)).toEqual([1, -2]);
    expect(all.tensors.get('i')!.data).toEqual(new Int32Array([5]));
    const ps = st.paramSource();
    const h = ps('h')!;
    expect(h.dtype).toBe('F16');
    const hb = h.bytes();
    expect(hb).toBeInstanceOf(Promise);
    expect(new Uint16Array((await hb).buffer)).toEqual(f16);
    const i = ps('i')!;
    expect(i.dtype).toBe('F32'); // integers are converted, as ParamEntry requires
    expect(new Float32Array((await i.bytes()).buffer)).toEqual(new Float32Array([5]));
    expect(ps('missing')).toBeUndefined();
    await expect(st.readBytes('missing')).rejects.toThrow(/x\.safetensors: no tensor named "missing"/);
  });

  it('a truncated file is refused at open, naming the source and saying it looks truncated', async () => {
    const whole = new Uint8Array(fs.readFileSync(VAE));
    const err = await SafetensorsSource.open(bytesSource(whole.slice(0, whole.length - 100), 'cut.safetensors')).catch((e) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect(err.message).toMatch(/^cut\.safetensors: file is \d+ bytes but the header says .*truncated file\?/);
    const short = await SafetensorsSource.open(bytesSource(whole.slice(0, 5), 'tiny.safetensors')).catch((e) => e);
    expect(short.message).toBe('tiny.safetensors: file is 5 bytes, too short for the 8-byte header length');
  });

  it('fuzz: over random corruptions both readers agree (same tensors, or the same error message)', async () => {
    const base = encodeSafetensors(
      {
        a: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
        b: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0x4000]) },
        c: { dtype: 'I32', shape: [1], data: new Int32Array([7]) },
      },
      { note: 'fuzz' },
    );
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const file = path.join(dir, 'fuzz.safetensors');
    let agreedErrors = 0;
    for (let trial = 0; trial < 400; trial++) {
      const bytes = base.slice(0, rand() < 0.2 ? Math.floor(rand() * base.length) : base.length);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips && bytes.length; k++) {
        // Mostly the header (where structure lives), sometimes the length prefix.
        const at = rand() < 0.15 ? Math.floor(rand() * 8) : 8 + Math.floor(rand() * Math.max(1, Math.min(bytes.length, base.length - 48) - 8));
        if (at < bytes.length) bytes[at] = rand() < 0.5 ? Math.floor(rand() * 256) : '{}[]",:0123456789 '.charCodeAt(Math.floor(rand() * 18));
      }
      fs.writeFileSync(file, bytes);
      const syncResult = (() => {
        try {
          const f = SafetensorsFile.open(file);
          const out = f.names().map((n) => [n, Array.from(f.readBytes(n))]);
          f.close();
          return { ok: out };
        } catch (e) {
          return { err: (e as Error).message };
        }
      })();
      const asyncResult = await (async () => {
        try {
          const s = await SafetensorsSource.open(bytesSource(bytes, file));
          const out = [];
          for (const n of s.names()) out.push([n, Array.from(await s.readBytes(n))]);
          return { ok: out };
        } catch (e) {
          expect(e).toBeInstanceOf(SafetensorsError);
          return { err: (e as Error).message };
        }
      })();
      expect(asyncResult).toEqual(syncResult);
      if ('err' in syncResult) agreedErrors++;
    }
    expect(agreedErrors).toBeGreaterThan(100); // the corruptions do exercise the error paths
  });
});
