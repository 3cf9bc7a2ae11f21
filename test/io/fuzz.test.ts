// Fuzzing every reader of untrusted files: safetensors, zip (torch.save >= 1.6), the pickle machine
// and the legacy torch.save format. Seeded mutations of real fixture files: truncations, byte flips,
// length and offset fields overwritten with extreme values, deep nesting and huge claimed sizes.
// Every case must end in a correct load or an error that names the file (CheckpointFormatError /
// SafetensorsError): never another exception, a hang, or a read larger than the file.
// The case count and time are stated in docs/checkpoints.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, bytesReader } from '../../src/io/byte_reader.js';
import type { SyncByteSource } from '../../src/io/byte_source.js';
import { unpickle } from '../../src/io/pickle.js';
import { readSafetensors, SafetensorsError } from '../../src/io/safetensors.js';
import { readTorchFile, torchHooks, TorchTensor, type TorchFile } from '../../src/io/torch_file.js';
import { moduleTensors, openaiDecoderTensors } from '../../src/io/openai_decoder.js';
import { ZipArchive } from '../../src/io/zip.js';

/** A byte string as written (one byte per char; TextEncoder would UTF-8-encode \x80). */
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const CKPTS = join(import.meta.dirname, '..', 'fixtures', 'checkpoints');
export const FUZZ_CASES_PER_READER = 5000;

/** mulberry32: a small seeded generator, so every failure can be replayed from its seed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const EXTREMES = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0];

/** One seeded mutation of `src`. `fields`: offsets of length/offset fields worth corrupting. */
function mutate(src: Uint8Array, r: () => number, fields: number[] = []): { bytes: Uint8Array; what: string } {
  const pick = (n: number) => Math.floor(r() * n);
  const kind = pick(6);
  const b = Uint8Array.from(src);
  const dv = new DataView(b.buffer);
  switch (kind) {
    case 0: { const n = pick(src.length); return { bytes: b.subarray(0, n), what: `truncate to ${n}` }; }
    case 1: { const k = 1 + pick(8); for (let i = 0; i < k; i++) b[pick(b.length)] ^= 1 << pick(8); return { bytes: b, what: `flip ${k} bits` }; }
    case 2: { const at = fields.length && r() < 0.7 ? fields[pick(fields.length)] : pick(b.length - 4); const v = EXTREMES[pick(EXTREMES.length)]; if (at + 4 <= b.length) dv.setUint32(at, v >>> 0, true); return { bytes: b, what: `u32 ${v} at ${at}` }; }
    case 3: { const at = pick(b.length - 8); dv.setBigUint64(at, BigInt(Math.floor(r() * 2 ** 53)) * BigInt(1 + pick(4096)), true); return { bytes: b, what: `u64 at ${at}` }; }
    case 4: { const at = pick(b.length); const k = 1 + pick(64); for (let i = 0; i < k && at + i < b.length; i++) b[at + i] = pick(256); return { bytes: b, what: `random run of ${k} at ${at}` }; }
    default: { const at = pick(b.length); const dup = b.subarray(at, at + pick(256)); const out = new Uint8Array(b.length + dup.length); out.set(b.subarray(0, at)); out.set(dup, at); out.set(b.subarray(at), at + dup.length); return { bytes: out, what: `duplicate ${dup.length} bytes at ${at}` }; }
  }
}

/** A reader that fails the test if asked for more than the file holds in total (x4, for views). */
function countingReader(bytes: Uint8Array, name: string): SyncByteSource & { total: number } {
  const inner = bytesReader(bytes, name);
  const r = { ...inner, total: 0, read(p: number, n: number) { r.total += n; return inner.read(p, n); } };
  return r;
}

interface Tally { ok: number; refused: number; ms: number; slowest: number }
const tallies: Record<string, Tally> = {};

function fuzz(reader: string, source: Uint8Array, run: (bytes: Uint8Array, name: string) => void, fields: number[] = [], namedError: (e: unknown) => boolean = (e) => e instanceof CheckpointFormatError) {
  const t0 = performance.now();
  const tally: Tally = { ok: 0, refused: 0, ms: 0, slowest: 0 };
  for (let seed = 1; seed <= FUZZ_CASES_PER_READER; seed++) {
    const { bytes, what } = mutate(source, rng(seed * 7919 + reader.length), fields);
    const name = `fuzz-${reader}-${seed}`;
    const c0 = performance.now();
    try {
      run(bytes, name);
      tally.ok++;
    } catch (e) {
      if (!namedError(e) || !(e as Error).message.startsWith(name)) throw new Error(`${reader} seed ${seed} (${what}): not a named error: ${(e as Error).stack}`);
      tally.refused++;
    } finally {
      const ms = performance.now() - c0;
      tally.slowest = Math.max(tally.slowest, ms);
      // No case may come near a hang: the inputs are a few kB (cases take < 0.2 ms on average; the
      // slowest, a GC pause, about 0.2 s under load), so 2 s means something loops.
      if (ms > 2000) throw new Error(`${reader} seed ${seed} (${what}) took ${ms.toFixed(0)} ms`);
    }
  }
  tally.ms = performance.now() - t0;
  tallies[reader] = tally;
  expect(tally.ok + tally.refused).toBe(FUZZ_CASES_PER_READER);
  expect(tally.refused).toBeGreaterThan(FUZZ_CASES_PER_READER / 10); // the mutations do reach the checks
}

/** Loads a torch file completely: every tensor of the object and of a TorchScript module tree. */
function loadAll(bytes: Uint8Array, name: string): void {
  const reader = countingReader(bytes, name);
  const f = readTorchFile(reader);
  const tensors: TorchTensor[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number) => {
    if (v instanceof TorchTensor) return void tensors.push(v);
    if (typeof v !== 'object' || v === null || seen.has(v) || depth > 100) return;
    seen.add(v);
    if (v instanceof Map) for (const x of v.values()) walk(x, depth + 1);
    else if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
  };
  walk(f.root, 0);
  for (const t of moduleTensors(f.root).values()) tensors.push(t);
  for (const t of tensors) f.tensorBytes(t);
  if (reader.total > 4 * bytes.length + 70000) throw new Error(`${name}: read ${reader.total} bytes of a ${bytes.length}-byte file`);
}

describe('fuzz', () => {
  const zipFile = new Uint8Array(readFileSync(join(CKPTS, 'tensors.pt')));
  const legacyFile = new Uint8Array(readFileSync(join(CKPTS, 'tensors.legacy.pt')));
  const pkl = ZipArchive.open(bytesReader(zipFile, 'tensors.pt')).read('tensors/data.pkl');

  it(`zip archives (tensors.pt): ${FUZZ_CASES_PER_READER} cases`, () => {
    // Central-directory and EOCD fields: sizes, name lengths, offsets.
    const fields: number[] = [];
    const dv = new DataView(zipFile.buffer);
    for (let i = 0; i + 4 <= zipFile.length; i++) {
      const sig = dv.getUint32(i, true);
      if (sig === 0x02014b50) fields.push(i + 20, i + 24, i + 28, i + 42);
      if (sig === 0x04034b50) fields.push(i + 26, i + 18);
      if (sig === 0x06054b50) fields.push(i + 8, i + 12, i + 16);
    }
    fuzz('zip', zipFile, loadAll, fields);
  });

  it(`legacy torch.save (tensors.legacy.pt): ${FUZZ_CASES_PER_READER} cases`, () => {
    fuzz('legacy', legacyFile, loadAll);
  });

  it(`the pickle machine (tensors.pt data.pkl, plus deep nesting and huge lengths): ${FUZZ_CASES_PER_READER} cases`, () => {
    const storage = { key: '0', dtype: 'F32', numel: 1 << 20, offset: 0, untyped: false };
    const run = (bytes: Uint8Array, name: string) => void unpickle(bytes, name, torchHooks(name, false, new Set(), () => storage));
    fuzz('pickle', pkl, run);
    // Hand-made hostile pickles: each is refused by name, quickly, for the reason it was built for.
    const hostile: [string, Uint8Array, RegExp][] = [
      ['deep MARKs', new Uint8Array([0x80, 2, ...new Array(20000).fill(0x28), 0x2e]), /MARKs nested deeper than 10000/],
      ['deep lists', new Uint8Array([0x80, 2, ...new Array(2_000_000).fill(0x5d), 0x2e]), /stack deeper than 1000000/],
      ['huge BINUNICODE', new Uint8Array([0x80, 2, 0x58, 0xf0, 0xff, 0xff, 0xff, 0x2e]), /needs 4294967280 more bytes/],
      ['huge BINBYTES8', new Uint8Array([0x80, 2, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0x2e]), /needs \d+ more bytes/],
      ['memo before store', new Uint8Array([0x80, 2, 0x68, 5, 0x2e]), /memo key 5 used before it was stored/],
      ['protocol 6', new Uint8Array([0x80, 6, 0x4e, 0x2e]), /protocol 6 is newer than 5/],
      ['GLOBAL os.system + REDUCE', latin1('\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.'), /names the global os\.system, which --strict refuses/],
      ['no STOP', new Uint8Array([0x80, 2, 0x4e]), /needs 1 more bytes/],
    ];
    for (const [what, bytes, reason] of hostile) {
      let result: unknown;
      try {
        result = unpickle(bytes, what, torchHooks(what, what.startsWith('GLOBAL'), new Set(), () => storage)).value;
      } catch (e) {
        expect(e, what).toBeInstanceOf(CheckpointFormatError);
        expect((e as Error).message.startsWith(what)).toBe(true);
        expect((e as Error).message, what).toMatch(reason);
        continue;
      }
      throw new Error(`${what}: accepted (${String(result)})`);
    }
  });

  it(`TorchScript module trees (tiny-consistency-decoder.pt data.pkl, mapped as decoder.pt): ${FUZZ_CASES_PER_READER} cases`, () => {
    const ts = new Uint8Array(readFileSync(join(CKPTS, 'tiny-consistency-decoder.pt')));
    const zip = ZipArchive.open(bytesReader(ts, 'tiny-consistency-decoder.pt'));
    const tree = zip.read('tiny-consistency-decoder/data.pkl');
    const storage = { key: '0', dtype: 'F32', numel: 1 << 24, offset: 0, untyped: false };
    fuzz('torchscript', tree, (bytes, name) => {
      const root = unpickle(bytes, name, torchHooks(name, false, new Set(), () => storage)).value;
      openaiDecoderTensors({ path: name, root, constants: undefined } as TorchFile);
    });
  });

  it(`safetensors (tensors.safetensors): ${FUZZ_CASES_PER_READER} cases`, () => {
    const src = new Uint8Array(readFileSync(join(CKPTS, 'tensors.safetensors')));
    const dir = mkdtempSync(join(tmpdir(), 'sdvae-fuzz-'));
    const headerLen = Number(new DataView(src.buffer).getBigUint64(0, true));
    // The length prefix and digits inside the JSON header (offsets, shapes).
    const fields = [0, 4, ...[...Buffer.from(src.subarray(8, 8 + headerLen)).toString('latin1').matchAll(/\d+/g)].map((m) => 8 + m.index!)];
    try {
      fuzz('safetensors', src, (bytes, name) => {
        const path = join(dir, name);
        writeFileSync(path, bytes);
        try {
          readSafetensors(path);
        } catch (e) {
          // SafetensorsError names the path; re-throw with the case name first, as the tally expects.
          if (e instanceof SafetensorsError && e.file === path) throw new CheckpointFormatError(name, e.problem);
          throw e;
        } finally {
          rmSync(path);
        }
      }, fields);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  afterAll(() => {
    const lines = Object.entries(tallies).map(([k, t]) => `${k}: ${t.ok + t.refused} cases (${t.ok} loaded, ${t.refused} refused by name) in ${(t.ms / 1000).toFixed(2)} s, slowest case ${t.slowest.toFixed(1)} ms`);
    console.log(`fuzz summary\n  ${lines.join('\n  ')}`);
  });
});
