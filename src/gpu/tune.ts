// Kernel choice by measurement: which conv2d variant is fastest for a shape class on this adapter.
//
// conv2d's rule (chooseConvVariant) is keyed to subgroup size: the direct subgroup kernel and
// Winograd's subgroup GEMM core where subgroups are exactly 8 lanes (lavapipe), the tiled direct
// kernel and Winograd's shared-memory GEMM core everywhere else. The tuner
// replaces the rule by a measurement where one exists. A shape class is (Cin, Cout, kh x kw, stride,
// padding, output pixels rounded up to a power of two); for each class the variants that apply on the
// adapter are timed once after a warm-up (gpu/tune_measure.ts) and the winner is remembered:
//
//   - in a store (TuneStore: a JSON file in the user's cache folder in Node, io/tune_file.ts;
//     localStorage in a browser, `localStorageStore` below), keyed by the adapter's info (vendor,
//     architecture, device, description: the driver) and the library version, so a new driver or a
//     new release measures again;
//   - in shipped tables (gpu/tune_lavapipe.ts) that say, for an adapter they match, what the tune
//     command measured when the table was made, so CI and first runs are fast without measuring.
//
// `convPolicy.tune` (kernels/conv2d.ts) says how conv2d uses it: 'off' (the default) is the rule
// alone, nothing here is consulted; 'cached' looks up the store, then the shipped tables, then falls
// back to the rule; 'full' does the same and records the classes it found no winner for, which
// `tuneConvShapes(gpu, missingConvShapes(gpu))` measures (conv2d's choice is synchronous, so a
// measurement cannot happen inside it: `sdvae tune` and `--tune full` run a plan first). Every variant
// passes the same reference cases, so the choice changes speed, never what is computed beyond float
// rounding. A corrupt store is reported (once, through `tuning.warn`) and ignored, never fatal.

import type { Gpu } from './gpu.js';
import type { ConvVariant } from '../kernels/conv2d.js';
import { CORE_LANES } from '../kernels/matmul.core.js';
import { lavapipeTable } from './tune_lavapipe.js';

export type TuneMode = 'off' | 'cached' | 'full';

/** The library version tuning results are keyed by (test/gpu/tune.test.ts checks it equals package.json's). */
export const LIBRARY_VERSION = '0.1.0';

export interface ConvShape {
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  stride: number;
  /** [top, bottom, left, right] */
  pad: readonly number[];
  /** Output pixels of the whole call (N x Hout x Wout); the class rounds it up to a power of two. */
  pixels: number;
}

export type AdapterInfo = Gpu['adapterInfo'];

/** What was measured for one shape class: the winner and every variant's time in ms. */
export interface TuneRecord {
  variant: ConvVariant;
  ms: Partial<Record<ConvVariant, number>>;
}

/** The JSON a store holds: per adapter key (adapter info + library version), the winners by shape class. */
export interface TuneFile {
  format: 'sdvae-webgpu.tune';
  version: 1;
  adapters: Record<string, { adapter: AdapterInfo; library: string; winners: Record<string, TuneRecord> }>;
}

/** Where tuning results persist. `read` returns undefined when nothing was stored yet. */
export interface TuneStore {
  /** For messages: the file path or storage key. */
  readonly where: string;
  read(): string | undefined;
  write(text: string): void;
}

/** A table shipped with the library, used by 'cached' and 'full' for the adapters it matches. */
export interface ShippedTable {
  name: string;
  matches(info: AdapterInfo): boolean;
  winners: Record<string, TuneRecord>;
}

/** Process-wide tuning settings: the store (none by default: nothing persists) and the shipped tables. */
export const tuning: { store: TuneStore | null; shipped: ShippedTable[]; warn: (message: string) => void } = {
  store: null,
  shipped: [lavapipeTable],
  warn: (m) => console.warn(`sdvae-webgpu: ${m}`),
};

/** Every conv2d variant (the tune command's --variants accepts these). */
export const CONV_VARIANTS: readonly ConvVariant[] = ['tiled', 'subgroup', 'winograd', 'winograd4', 'winograd-shared', 'winograd4-shared'];
const VARIANTS = CONV_VARIANTS;

export function pixelClass(pixels: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, pixels)));
}

export function convShapeKey(s: ConvShape): string {
  return `conv ${s.cin}->${s.cout} k${s.kh}x${s.kw} s${s.stride} p${s.pad.join(',')} px${pixelClass(s.pixels)}`;
}

/** The key results are stored under: a new driver, device or library version measures again. */
export function adapterKey(info: AdapterInfo, library = LIBRARY_VERSION): string {
  return `${info.vendor}|${info.architecture}|${info.device}|${info.description}|sdvae-webgpu@${library}`;
}

/**
 * The variants that can run this shape on this adapter, as conv2d.ts and its kernels require: the
 * subgroup kernel and the subgroup Winograd GEMM core ('winograd', 'winograd4') need subgroups of
 * exactly CORE_LANES (8) lanes, the shared-memory core ('winograd-shared', 'winograd4-shared') runs
 * anywhere; Winograd needs a 3x3 stride-1 pad-1 convolution (and `winograd` allowed: convPolicy.winograd).
 */
export function applicableConvVariants(gpu: Gpu, s: ConvShape, winograd = true): ConvVariant[] {
  const { subgroups, subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.features;
  const eight = subgroups && lo === CORE_LANES && hi === CORE_LANES;
  const wino = winograd && s.kh === 3 && s.kw === 3 && s.stride === 1 && s.pad.every((v) => v === 1);
  return VARIANTS.filter((v) => v === 'tiled' || (v === 'subgroup' && eight) || ((v === 'winograd' || v === 'winograd4') && wino && eight) ||
    ((v === 'winograd-shared' || v === 'winograd4-shared') && wino));
}

interface GpuTuning {
  key: string;
  winners: Record<string, TuneRecord>;
  shipped: ShippedTable[];
  /** Classes conv2d asked for (any mode but 'off'), and those 'full' found no winner for. */
  seen: Map<string, ConvShape>;
  missing: Map<string, ConvShape>;
}

const state = new WeakMap<Gpu, GpuTuning>();

/** Parses a store's text; throws an error naming `where` when it is not a tune file. */
export function parseTuneFile(text: string, where: string): TuneFile {
  let f: unknown;
  try {
    f = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not JSON (${(e as Error).message})`);
  }
  const t = f as TuneFile;
  if (!t || typeof t !== 'object' || t.format !== 'sdvae-webgpu.tune' || t.version !== 1 || !t.adapters || typeof t.adapters !== 'object')
    throw new Error(`${where}: not an sdvae-webgpu tune file (expected {"format": "sdvae-webgpu.tune", "version": 1, "adapters": {...}})`);
  for (const [key, a] of Object.entries(t.adapters)) {
    if (!a || typeof a.winners !== 'object' || a.winners === null) throw new Error(`${where}: adapter "${key}" has no winners table`);
    for (const [shape, r] of Object.entries(a.winners))
      if (!r || !VARIANTS.includes(r.variant) || !r.ms || typeof r.ms !== 'object' || Object.values(r.ms).some((v) => typeof v !== 'number')) throw new Error(`${where}: "${shape}" of adapter "${key}": expected {variant: ${VARIANTS.join('|')}, ms: {...}}`);
  }
  return t;
}

/** The store's contents, or an empty file when there is none or it is unreadable (reported, not fatal). */
export function readTuneFile(store: TuneStore | null): TuneFile {
  const empty: TuneFile = { format: 'sdvae-webgpu.tune', version: 1, adapters: {} };
  if (!store) return empty;
  try {
    const text = store.read();
    return text === undefined ? empty : parseTuneFile(text, store.where);
  } catch (e) {
    tuning.warn(`ignoring the tuning cache: ${(e as Error).message} (it is replaced when new results are saved)`);
    return empty;
  }
}

function tuningOf(gpu: Gpu): GpuTuning {
  let t = state.get(gpu);
  if (!t) {
    const key = adapterKey(gpu.adapterInfo);
    const winners = { ...(readTuneFile(tuning.store).adapters[key]?.winners ?? {}) };
    t = { key, winners, shipped: tuning.shipped.filter((s) => s.matches(gpu.adapterInfo)), seen: new Map(), missing: new Map() };
    state.set(gpu, t);
  }
  return t;
}

/** Forgets what was loaded for this Gpu (the next choice reads the store again): after changing `tuning`. */
export function resetTuning(gpu: Gpu): void {
  state.delete(gpu);
}

/** A stored or shipped result for this class, if any, and where it came from. */
export function lookupConv(gpu: Gpu, s: ConvShape): { record: TuneRecord; from: string } | undefined {
  const t = tuningOf(gpu);
  const key = convShapeKey(s);
  if (t.winners[key]) return { record: t.winners[key], from: tuning.store?.where ?? 'this session' };
  for (const table of t.shipped) if (table.winners[key]) return { record: table.winners[key], from: table.name };
  return undefined;
}

/**
 * conv2d's choice when convPolicy.tune is 'cached' or 'full': the remembered winner if it can run
 * here, else `rule`. Called from chooseConvVariant only.
 */
export function tunedConvVariant(gpu: Gpu, s: ConvShape, rule: ConvVariant, mode: Exclude<TuneMode, 'off'>, winograd: boolean): ConvVariant {
  const t = tuningOf(gpu);
  const key = convShapeKey(s);
  t.seen.set(key, s);
  const found = lookupConv(gpu, s);
  if (found && applicableConvVariants(gpu, s, winograd).includes(found.record.variant)) return found.record.variant;
  if (mode === 'full') t.missing.set(key, s);
  return rule;
}

/** Every class conv2d asked this Gpu about since tuning was on (one per key). */
export function seenConvShapes(gpu: Gpu): ConvShape[] {
  return [...tuningOf(gpu).seen.values()];
}

/** The classes 'full' found no winner for: what `tuneConvShapes` should measure. */
export function missingConvShapes(gpu: Gpu): ConvShape[] {
  return [...tuningOf(gpu).missing.values()];
}

/** Remembers measured winners for this Gpu and writes them to the store (temp file + rename in Node). */
export function rememberConv(gpu: Gpu, results: { shape: ConvShape; record: TuneRecord }[]): void {
  const t = tuningOf(gpu);
  for (const { shape, record } of results) {
    const key = convShapeKey(shape);
    t.winners[key] = record;
    t.missing.delete(key);
  }
  if (!tuning.store) return;
  const file = readTuneFile(tuning.store);
  file.adapters[t.key] = { adapter: gpu.adapterInfo, library: LIBRARY_VERSION, winners: { ...(file.adapters[t.key]?.winners ?? {}), ...t.winners } };
  tuning.store.write(JSON.stringify(file, null, 1) + '\n');
}

/** A TuneStore over a browser's localStorage (or any object with getItem/setItem). */
export function localStorageStore(storage: { getItem(key: string): string | null; setItem(key: string, value: string): void }, key = 'sdvae-webgpu.tune'): TuneStore {
  return {
    where: `localStorage["${key}"]`,
    read: () => storage.getItem(key) ?? undefined,
    write: (text) => storage.setItem(key, text),
  };
}

/** A TuneStore in memory (tests; a session that should not persist). */
export function memoryStore(initial?: string): TuneStore & { text: string | undefined } {
  const s = {
    where: 'memory store',
    text: initial,
    read: () => s.text,
    write: (text: string) => {
      s.text = text;
    },
  };
  return s;
}
