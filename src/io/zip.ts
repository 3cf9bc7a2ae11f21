// The zip archives torch.save (>= 1.6) and torch.jit.save write: uncompressed (STORED), ZIP64 when
// large, written by miniz (caffe2/serialize/inline_container.cc). Only what those need is read:
//
//   end of central directory (EOCD)   signature 0x06054b50, in the last 22 + 65535 bytes
//     -> ZIP64 EOCD locator (0x07064b50, the 20 bytes before it) -> ZIP64 EOCD record (0x06064b50)
//        when a field is saturated (0xFFFF / 0xFFFFFFFF)
//   central directory                 one 46-byte header (0x02014b50) + name + extra + comment per record;
//                                     sizes and the local header offset, widened by the ZIP64 extra
//                                     field (id 0x0001) where the 32-bit field is 0xFFFFFFFF
//   local header                      30 bytes (0x04034b50) + name + extra; the data follows. Its extra
//                                     length differs from the central one (torch pads each record to
//                                     64-byte alignment there), so it is read from the local header.
//
// Sizes and offsets come from the central directory, never from scanning local headers. Records are
// refused when their names could escape a folder (`..`, leading `/` or `\`), repeat, are compressed,
// or do not fit in the file.

import { CheckpointFormatError } from './byte_reader.js';
import type { SyncByteSource } from './byte_source.js';

export interface ZipRecord {
  name: string;
  /** 0 = STORED; anything else is refused when the record is read. */
  method: number;
  size: number;
  compressedSize: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const MAX_RECORDS = 1_000_000;

export class ZipArchive {
  private constructor(readonly reader: SyncByteSource, readonly records: Map<string, ZipRecord>) {}

  static open(reader: SyncByteSource): ZipArchive {
    const fail = (problem: string): never => {
      throw new CheckpointFormatError(reader.name, problem);
    };
    const { count, cdOffset, cdSize } = findCentralDirectory(reader, fail);
    if (cdOffset + cdSize > reader.size) fail(`zip central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the file (${reader.size} bytes)`);
    if (count > MAX_RECORDS || count * 46 > cdSize) fail(`zip directory claims ${count} records in ${cdSize} bytes`);
    const cd = reader.read(cdOffset, cdSize);
    const dv = new DataView(cd.buffer);
    const records = new Map<string, ZipRecord>();
    let at = 0;
    for (let i = 0; i < count; i++) {
      if (at + 46 > cd.length || dv.getUint32(at, true) !== CENTRAL_SIG) fail(`zip central directory record ${i} is malformed (no header at directory offset ${at})`);
      const method = dv.getUint16(at + 10, true);
      let compressedSize = dv.getUint32(at + 20, true);
      let size = dv.getUint32(at + 24, true);
      const nameLen = dv.getUint16(at + 28, true);
      const extraLen = dv.getUint16(at + 30, true);
      const commentLen = dv.getUint16(at + 32, true);
      let localHeaderOffset = dv.getUint32(at + 42, true);
      const end = at + 46 + nameLen + extraLen + commentLen;
      if (end > cd.length) fail(`zip central directory record ${i} runs past the directory`);
      const name = decodeName(cd.subarray(at + 46, at + 46 + nameLen), fail);
      // ZIP64: the saturated 32-bit fields are given, in this order, in extra field 0x0001.
      const wide = readZip64Extra(dv, at + 46 + nameLen, extraLen);
      let w = 0;
      const widen = (v: number, what: string) => {
        if (v !== 0xffffffff) return v;
        if (w >= wide.length) fail(`zip record "${name}": ${what} is 0xFFFFFFFF but the ZIP64 extra field lacks it`);
        return wide[w++];
      };
      size = widen(size, 'size');
      compressedSize = widen(compressedSize, 'compressed size');
      localHeaderOffset = widen(localHeaderOffset, 'offset');
      checkName(name, fail);
      if (records.has(name)) fail(`zip record "${name}" appears twice`);
      records.set(name, { name, method, size, compressedSize, localHeaderOffset });
      at = end;
    }
    return new ZipArchive(reader, records);
  }

  /** Absolute file offset and size of a record's data, checked to be STORED and inside the file. */
  locate(name: string): { offset: number; size: number } {
    const fail = (problem: string): never => {
      throw new CheckpointFormatError(this.reader.name, problem);
    };
    const r = this.records.get(name);
    if (!r) return fail(`zip record "${name}" is missing`);
    if (r.method !== 0) fail(`zip record "${name}" is compressed (method ${r.method}); torch writes records uncompressed (STORED)`);
    if (r.compressedSize !== r.size) fail(`zip record "${name}" is STORED but its sizes differ (${r.compressedSize} vs ${r.size})`);
    if (r.localHeaderOffset + 30 > this.reader.size) fail(`zip record "${name}": local header at ${r.localHeaderOffset} is past the end of the file`);
    const head = this.reader.read(r.localHeaderOffset, 30);
    const dv = new DataView(head.buffer);
    if (dv.getUint32(0, true) !== LOCAL_SIG) fail(`zip record "${name}": no local header at offset ${r.localHeaderOffset}`);
    const offset = r.localHeaderOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
    if (offset + r.size > this.reader.size) fail(`zip record "${name}" is short: ${r.size} bytes at offset ${offset} run past the end of the file (${this.reader.size} bytes)`);
    return { offset, size: r.size };
  }

  /** A whole (small) record. */
  read(name: string): Uint8Array {
    const { offset, size } = this.locate(name);
    return this.reader.read(offset, size);
  }
}

function findCentralDirectory(reader: SyncByteSource, fail: (p: string) => never): { count: number; cdOffset: number; cdSize: number } {
  if (reader.size < 22) fail(`file is ${reader.size} bytes, too short for a zip archive`);
  const tailLen = Math.min(reader.size, 22 + 65535);
  const tailStart = reader.size - tailLen;
  const tail = reader.read(tailStart, tailLen);
  const dv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (dv.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('no zip end-of-central-directory record (truncated file?)');
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = tailStart + eocd - 20;
    if (loc < 0) fail('zip archive needs ZIP64 but has no ZIP64 locator');
    const l = new DataView(reader.read(loc, 20).buffer);
    if (l.getUint32(0, true) !== ZIP64_LOCATOR_SIG) fail('zip archive needs ZIP64 but has no ZIP64 locator');
    const recOffset = safeU64(l, 8, fail, 'ZIP64 EOCD offset');
    if (recOffset + 56 > reader.size) fail(`ZIP64 end-of-central-directory offset ${recOffset} is past the end of the file`);
    const r = new DataView(reader.read(recOffset, 56).buffer);
    if (r.getUint32(0, true) !== ZIP64_EOCD_SIG) fail(`no ZIP64 end-of-central-directory record at offset ${recOffset}`);
    count = safeU64(r, 32, fail, 'ZIP64 record count');
    cdSize = safeU64(r, 40, fail, 'ZIP64 directory size');
    cdOffset = safeU64(r, 48, fail, 'ZIP64 directory offset');
  }
  return { count, cdOffset, cdSize };
}

function safeU64(dv: DataView, at: number, fail: (p: string) => never, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is too large`);
  return Number(v);
}

/** The 64-bit values of extra field 0x0001, if present. */
function readZip64Extra(dv: DataView, start: number, len: number): number[] {
  let at = start;
  while (at + 4 <= start + len) {
    const id = dv.getUint16(at, true);
    const n = dv.getUint16(at + 2, true);
    if (id === 0x0001) {
      const out: number[] = [];
      for (let k = 0; k + 8 <= n && at + 4 + k + 8 <= start + len; k += 8) out.push(Number(dv.getBigUint64(at + 4 + k, true)));
      return out;
    }
    at += 4 + n;
  }
  return [];
}

function decodeName(bytes: Uint8Array, fail: (p: string) => never): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('a zip record name is not valid UTF-8');
  }
}

function checkName(name: string, fail: (p: string) => never): void {
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) fail(`zip record "${name}" has an absolute path`);
  if (name.split(/[/\\]/).includes('..')) fail(`zip record "${name}" contains ".."`);
  if (name.includes('\0')) fail('a zip record name contains a NUL byte');
}
