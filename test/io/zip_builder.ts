// Builds STORED zip archives for tests, optionally with every size and offset in ZIP64 form (the
// 32-bit fields saturated, the values in extra field 0x0001, a ZIP64 end record and locator), and
// with torch's 64-byte alignment padding in the local extra field. A record may be a `hole` of N
// zero bytes that is never written: with writeZipFile that makes a sparse multi-GiB file.
import { closeSync, openSync, writeSync } from 'node:fs';

type Rec = { name: string; data: Uint8Array } | { name: string; hole: number };

export function buildZip(records: { name: string; data: Uint8Array }[], opts: { zip64?: boolean; align?: number } = {}): Uint8Array {
  const chunks: [Uint8Array, number][] = [];
  const size = layout(records, opts, (b, at) => chunks.push([b, at]));
  const out = new Uint8Array(size);
  for (const [b, at] of chunks) out.set(b, at);
  return out;
}

/** The same layout written to a file by positioned writes; holes stay unwritten (sparse). */
export function writeZipFile(path: string, records: Rec[], opts: { zip64?: boolean; align?: number } = {}): number {
  const fd = openSync(path, 'w');
  try {
    return layout(records, opts, (b, at) => void writeSync(fd, b, 0, b.length, at));
  } finally {
    closeSync(fd);
  }
}

function layout(records: Rec[], opts: { zip64?: boolean; align?: number }, put: (b: Uint8Array, at: number) => void): number {
  const enc = new TextEncoder();
  let at = 0;
  const push = (b: Uint8Array) => (put(b, at), (at += b.length));
  const central: Uint8Array[] = [];
  for (const r of records) {
    const name = enc.encode(r.name);
    const len = 'hole' in r ? r.hole : r.data.length;
    const offset = at;
    const pad = opts.align ? (opts.align - ((at + 30 + name.length + 4) % opts.align)) % opts.align : 0;
    const local = new Uint8Array(30 + name.length + (opts.align ? 4 + pad : 0));
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint32(18, Math.min(len, 0xffffffff), true);
    l.setUint32(22, Math.min(len, 0xffffffff), true);
    l.setUint16(26, name.length, true);
    l.setUint16(28, opts.align ? 4 + pad : 0, true);
    local.set(name, 30);
    if (opts.align) (l.setUint16(30 + name.length, 0x4246, true), l.setUint16(32 + name.length, pad, true));
    push(local);
    if ('hole' in r) at += r.hole;
    else push(r.data);
    const extra = opts.zip64 ? 4 + 24 : 0;
    const c = new Uint8Array(46 + name.length + extra);
    const d = new DataView(c.buffer);
    d.setUint32(0, 0x02014b50, true);
    const big = 0xffffffff;
    d.setUint32(20, opts.zip64 ? big : len, true);
    d.setUint32(24, opts.zip64 ? big : len, true);
    d.setUint16(28, name.length, true);
    d.setUint16(30, extra, true);
    d.setUint32(42, opts.zip64 ? big : offset, true);
    c.set(name, 46);
    if (opts.zip64) {
      const e = 46 + name.length;
      d.setUint16(e, 1, true);
      d.setUint16(e + 2, 24, true);
      d.setBigUint64(e + 4, BigInt(len), true); // uncompressed
      d.setBigUint64(e + 12, BigInt(len), true); // compressed
      d.setBigUint64(e + 20, BigInt(offset), true);
    }
    central.push(c);
  }
  const cdOffset = at;
  for (const c of central) push(c);
  const cdSize = at - cdOffset;
  if (opts.zip64) {
    const rec = new Uint8Array(56);
    const r = new DataView(rec.buffer);
    r.setUint32(0, 0x06064b50, true);
    r.setBigUint64(4, 44n, true);
    r.setBigUint64(24, BigInt(records.length), true);
    r.setBigUint64(32, BigInt(records.length), true);
    r.setBigUint64(40, BigInt(cdSize), true);
    r.setBigUint64(48, BigInt(cdOffset), true);
    const recAt = at;
    push(rec);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true);
    lv.setBigUint64(8, BigInt(recAt), true);
    lv.setUint32(16, 1, true);
    push(loc);
  }
  const eocd = new Uint8Array(22);
  const e = new DataView(eocd.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, opts.zip64 ? 0xffff : records.length, true);
  e.setUint16(10, opts.zip64 ? 0xffff : records.length, true);
  e.setUint32(12, opts.zip64 ? 0xffffffff : cdSize, true);
  e.setUint32(16, opts.zip64 ? 0xffffffff : cdOffset, true);
  push(eocd);
  return at;
}
