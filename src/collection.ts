// Collections: what `sdvae encode DIR -o LATENTS_DIR`, `sdvae decode LATENTS_DIR -o OUT_DIR` and
// `sdvae compare DIR` share. Node only (files). The loops themselves are in collection_run.ts.
//
//   inputs   folders (their *.png, not recursive), globs in the file name (photos/*.png, a?.png) and
//            files, sorted and de-duplicated; two inputs that would write the same output name are
//            refused before any work
//   batches  images (or latents) of equal size share one GPU pass, at most --batch N per pass; other
//            sizes form their own groups
//   resume   every output is written to a temporary name and renamed, so an output that exists is
//            complete; a rerun skips outputs newer than their input that were made by the same model
//            (and precision), redoes those older than their input, and refuses (without --force) to
//            replace one made by another model, so nothing is silently mixed
//   index    OUT/index.json lists every item (source, output, model, precision, sizes, sha256 of the
//            output) and the failures, with a summary; rewritten (temp + rename) after every batch
//
// Test hook: SDVAE_TEST_KILL_AFTER=N kills the process (SIGKILL, as a crash or `kill -9` would) right
// after its N-th output has been renamed into place, to test resumption.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

/** One image of an encode run, or one latent of a decode run, as index.json records it. */
export interface IndexEntry {
  /** The input file, as given (or found in a folder). */
  source: string;
  /** The output file's name inside the output folder. */
  output: string;
  model: string;
  latent_space: string;
  precision: string;
  /** Encoded (or decoded) image size [W, H]; source_size: the input image before crop/resize. */
  size: [number, number];
  source_size?: [number, number];
  latent_shape: number[];
  /** Bytes of the input file and of the output file. */
  source_bytes: number;
  output_bytes: number;
  /** sha256 of the output file. */
  sha256: string;
  /** With --report: the decode of this latent against the (prepared) original, per decoder. */
  quality?: Record<string, { psnr: number; ssim: number }>;
}

export interface Summary {
  /** Items in the index (done now or before). */
  images: number;
  done_now: number;
  skipped: number;
  failed: number;
  png_bytes: number;
  /** Bytes of stored latents by precision (encode), or of PNGs written (decode: key "png"). */
  output_bytes: Record<string, number>;
  /** png_bytes / all output bytes. */
  ratio: number;
  seconds: number;
  /** With --report: PSNR/SSIM mean and the worst image, per decoder. */
  quality?: Record<string, { psnr_mean: number; ssim_mean: number; worst: { source: string; psnr: number; ssim: number } }>;
}

export interface CollectionIndex {
  format: 'sdvae-collection';
  version: 1;
  kind: 'latents' | 'images';
  entries: IndexEntry[];
  failed: { source: string; error: string }[];
  summary?: Summary;
}

export const INDEX_FILE = 'index.json';

const hasGlob = (s: string) => /[*?]/.test(s);

/** A file-name glob (`*` any run, `?` one character; no `/`) as a RegExp. */
function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/** True when `args` name a collection (several inputs, a folder or a glob) rather than one file. */
export function isCollection(args: string[]): boolean {
  return args.length > 1 || args.some((a) => hasGlob(a) || (existsSync(a) && statSync(a).isDirectory()));
}

/** The files `args` name: folders give their files ending in `ext`, globs match file names in their folder. */
export function listInputs(args: string[], ext: string): string[] {
  const found = new Set<string>();
  const inFolder = (dir: string, keep: (name: string) => boolean) =>
    readdirSync(dir).filter((n) => keep(n) && statSync(join(dir, n)).isFile()).forEach((n) => found.add(join(dir, n)));
  for (const a of args) {
    if (hasGlob(a)) {
      const dir = dirname(a);
      if (hasGlob(dir)) throw new Error(`${a}: wildcards are only supported in the file name, not in folders`);
      if (!existsSync(dir)) throw new Error(`${a}: no such folder ${dir}`);
      const re = globToRegExp(basename(a));
      const before = found.size;
      inFolder(dir, (n) => re.test(n));
      if (found.size === before) throw new Error(`${a}: matches no file`);
    } else if (!existsSync(a)) throw new Error(`${a}: no such file or folder`);
    else if (statSync(a).isDirectory()) inFolder(a, (n) => n.toLowerCase().endsWith(ext));
    else found.add(a);
  }
  if (!found.size) throw new Error(`${args.join(' ')}: no ${ext} files found`);
  return [...found].sort();
}

/** Output file names by input; two inputs with the same output name are an error (both named). */
export function outputNames(inputs: string[], name: (input: string) => string): Map<string, string> {
  const byName = new Map<string, string>();
  for (const i of inputs) {
    const n = name(i);
    const other = byName.get(n);
    if (other) throw new Error(`${other} and ${i} would both be written as ${n}; rename one or encode them into separate folders`);
    byName.set(n, i);
  }
  return new Map([...byName].map(([n, i]) => [i, n]));
}

/** Creates the output folder; an existing file of that name is an error (not a crash in mkdir). */
export function ensureOutDir(dir: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`-o ${dir}: is a file; a folder of inputs is written into an output folder`);
  mkdirSync(dir, { recursive: true });
}

export const stem = (p: string) => basename(p, extname(p)).replace(/\.latent$/, '');

/** The output exists (complete: written under a temporary name, then renamed) and is not older than its input. */
export function isFresh(output: string, input: string): boolean {
  return existsSync(output) && statSync(output).mtimeMs >= statSync(input).mtimeMs;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function readIndex(dir: string, kind: CollectionIndex['kind']): CollectionIndex {
  const path = join(dir, INDEX_FILE);
  if (!existsSync(path)) return { format: 'sdvae-collection', version: 1, kind, entries: [], failed: [] };
  let index: CollectionIndex;
  try {
    index = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message}); move it away to start a new index`);
  }
  if (!index || typeof index !== 'object' || index.format !== 'sdvae-collection' || !Array.isArray(index.entries))
    throw new Error(`${path}: not an sdvae collection index (format ${JSON.stringify((index as { format?: unknown } | null)?.format)}, expected "sdvae-collection" with a list of entries)`);
  index.entries.forEach((e, i) => {
    const ok = e && typeof e === 'object' && ['source', 'output', 'model', 'precision', 'sha256'].every((k) => typeof (e as unknown as Record<string, unknown>)[k] === 'string');
    if (!ok) throw new Error(`${path}: entry ${i} is not an index entry (needs source, output, model, precision and sha256 strings); move the file away to start a new index`);
  });
  if (index.kind !== kind) throw new Error(`${path}: indexes ${index.kind}, but this run writes ${kind} into ${dir}`);
  return { ...index, failed: [] };
}

/** Writes the index to a temporary name and renames it, so a crash never leaves half an index. */
export function writeIndex(dir: string, index: CollectionIndex): void {
  const path = join(dir, INDEX_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(index, null, 1) + '\n');
  renameSync(tmp, path);
}

/** Groups items by `key` (equal sizes), then cuts each group into batches of at most `batch`. */
export function batchesBySize<T>(items: T[], key: (t: T) => string, batch: number): T[][] {
  const groups = new Map<string, T[]>();
  for (const t of items) groups.set(key(t), [...(groups.get(key(t)) ?? []), t]);
  const out: T[][] = [];
  for (const g of groups.values()) for (let i = 0; i < g.length; i += batch) out.push(g.slice(i, i + batch));
  return out;
}

/** Progress on stderr: items done, rate and the time left. */
export class Progress {
  private readonly t0 = performance.now();
  private done = 0;
  constructor(readonly total: number, private readonly write: (line: string) => void) {}
  tick(n: number, what: string): void {
    this.done += n;
    const s = (performance.now() - this.t0) / 1000;
    const rate = this.done / Math.max(s, 1e-9);
    const eta = (this.total - this.done) / Math.max(rate, 1e-9);
    this.write(`[${this.done}/${this.total}] ${what}  ${rate.toFixed(2)} img/s, ${eta.toFixed(0)} s left`);
  }
}

let written = 0;
/** Called after each output is renamed into place (the kill-mid-run test hook, see the file header). */
export function outputWritten(): void {
  written++;
  const after = Number(process.env.SDVAE_TEST_KILL_AFTER);
  if (after > 0 && written >= after) process.kill(process.pid, 'SIGKILL');
}

/** The summary of an index (sizes over every entry, done now or before). */
export function summarize(index: CollectionIndex, doneNow: number, skipped: number, seconds: number, report: boolean): Summary {
  const out: Record<string, number> = {};
  let png = 0;
  for (const e of index.entries) {
    const key = index.kind === 'latents' ? e.precision : 'png';
    out[key] = (out[key] ?? 0) + e.output_bytes;
    png += index.kind === 'latents' ? e.source_bytes : e.output_bytes;
  }
  const total = Object.values(out).reduce((a, b) => a + b, 0);
  const latentTotal = index.kind === 'latents' ? total : index.entries.reduce((a, e) => a + e.source_bytes, 0);
  const s: Summary = { images: index.entries.length, done_now: doneNow, skipped, failed: index.failed.length, png_bytes: png, output_bytes: out, ratio: latentTotal ? png / latentTotal : 0, seconds };
  if (report) s.quality = qualitySummary(index.entries.flatMap((e) => Object.entries(e.quality ?? {}).map(([decoder, q]) => ({ source: e.source, decoder, ...q }))));
  return s;
}

/** PSNR/SSIM mean and the worst image (lowest PSNR), per decoder. */
export function qualitySummary(rows: { source: string; decoder: string; psnr: number; ssim: number }[]): NonNullable<Summary['quality']> {
  const q: NonNullable<Summary['quality']> = {};
  for (const d of new Set(rows.map((r) => r.decoder))) {
    const mine = rows.filter((r) => r.decoder === d);
    const worst = mine.reduce((a, b) => (b.psnr < a.psnr ? b : a));
    q[d] = {
      psnr_mean: mine.reduce((a, r) => a + r.psnr, 0) / mine.length,
      ssim_mean: mine.reduce((a, r) => a + r.ssim, 0) / mine.length,
      worst: { source: worst.source, psnr: worst.psnr, ssim: worst.ssim },
    };
  }
  return q;
}

export function formatQuality(q: NonNullable<Summary['quality']>): string[] {
  return Object.entries(q).map(([d, v]) => `${d}: PSNR mean ${v.psnr_mean.toFixed(2)} dB, SSIM mean ${v.ssim_mean.toFixed(4)}; worst ${v.worst.source} (${v.worst.psnr.toFixed(2)} dB, ${v.worst.ssim.toFixed(4)})`);
}

export function formatSummary(s: Summary, kind: CollectionIndex['kind']): string {
  const bytes = Object.entries(s.output_bytes).map(([k, v]) => `${k} ${v} B`).join(', ');
  const lines = [
    `${s.images} images (${s.done_now} ${kind === 'latents' ? 'encoded' : 'decoded'} now, ${s.skipped} already done, ${s.failed} failed) in ${s.seconds.toFixed(2)} s`,
    kind === 'latents' ? `PNG in ${s.png_bytes} B, latents out: ${bytes || 'none'}; ratio ${s.ratio.toFixed(1)}x` : `latents in, PNG out ${s.png_bytes} B; ratio ${s.ratio.toFixed(1)}x`,
  ];
  if (s.quality) lines.push(...formatQuality(s.quality));
  return lines.join('\n');
}
