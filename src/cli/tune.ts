// sdvae tune: fills the kernel-choice cache (src/gpu/tune.ts) for one model's conv shapes ahead of
// time. A dry run of the model at --size (planned, nothing dispatched or uploaded) collects the shape
// classes its convolutions use; each class without a result (every class with --full) is measured on
// this adapter, the winners are written to the cache file, and a table shows each variant's time.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { convPolicy, type ConvVariant } from '../kernels/conv2d.js';
import { CONV_VARIANTS, convShapeKey, missingConvShapes, seenConvShapes, tuning, type ConvShape, type TuneMode } from '../gpu/tune.js';
import { fileTuneStore, defaultTuneFilePath } from '../io/tune_file.js';
import { tuneConvShapes, type TuneRow } from '../gpu/tune_measure.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../models/consistency_decoder.js';
import { AutoencoderTiny, parseAutoencoderTinyConfig } from '../models/autoencoder_tiny.js';
import { ParamLoader } from '../models/params.js';
import { modelClass } from './models.js';
import { parseIntArg, progress, UsageError } from './common.js';

export const TUNE_HELP = `sdvae tune (--model DIR | --manifest FILE.json) [--size N] [--full] [--variants LIST] [--cache FILE] [--json]

Plans one forward pass of the model on an N x N image (default 256: encode, then decode; a dry run,
nothing is computed), collects the conv shapes it uses and times every conv2d variant that applies on
this adapter for the shapes the cache has no result for (--full: all of them), once each after a
warm-up. Writes the winners to the cache (default ${defaultTuneFilePath()}, or $XDG_CACHE_HOME/sdvae-webgpu/
tune.json; $SDVAE_TUNE_FILE overrides) and prints shape, each variant's time in ms, and the winner. --manifest takes an architecture
manifest (config and parameter shapes, as in test/fixtures/reference/manifests) instead of weights.
--variants tiled,subgroup,winograd,winograd4,winograd-shared,winograd4-shared times only those (a variant known to be far slower on an
adapter can be left out to save time). Decode and encode use the cache with --tune cached (or --tune full, which also tunes what is missing).`;

const VARIANTS: readonly ConvVariant[] = CONV_VARIANTS;

export async function runTune(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      manifest: { type: 'string' },
      size: { type: 'string' },
      full: { type: 'boolean', default: false },
      variants: { type: 'string' },
      cache: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(TUNE_HELP), 0;
  if (!values.model === !values.manifest) throw new UsageError(`tune: give --model DIR or --manifest FILE.json\n\n${TUNE_HELP}`);
  const size = parseIntArg('size', values.size, 8, 4096) ?? 256;
  const variants = values.variants?.split(',') as ConvVariant[] | undefined;
  for (const v of variants ?? []) if (!VARIANTS.includes(v)) throw new UsageError(`tune: --variants: unknown variant "${v}" (expected a comma-separated list of ${VARIANTS.join(', ')})`);
  const shapes = await modelConvShapes(values.model ?? values.manifest!, size, !!values.manifest);
  tuning.store = fileTuneStore(values.cache ?? defaultTuneFilePath());
  const gpu = await Gpu.create();
  try {
    progress(`tune: ${shapes.length} conv shape classes of ${values.model ?? values.manifest} at ${size}x${size} on ${gpu.adapterName}`);
    const rows = await tuneConvShapes(gpu, shapes, {
      full: values.full,
      variants,
      onRow: (r) => progress(`  ${convShapeKey(r.shape)}: ${r.record.variant} (${r.from})`),
    });
    if (values.json) console.log(JSON.stringify({ adapter: gpu.adapterInfo, cache: tuning.store.where, rows }, null, 1));
    else console.log(formatTuneRows(rows, gpu.adapterName, tuning.store.where));
    return 0;
  } finally {
    gpu.destroy();
  }
}

/** The table: one row per class, each variant's ms ('-' where it does not apply or was not stored). */
export function formatTuneRows(rows: TuneRow[], adapter: string, cache: string): string {
  const lines = [`adapter: ${adapter}; cache: ${cache}`, '', `| shape | ${VARIANTS.join(' ms | ')} ms | winner | from |`, `|---|${VARIANTS.map(() => '---:|').join('')}---|---|`];
  for (const r of rows) {
    const ms = VARIANTS.map((v) => (r.record.ms[v] === undefined ? '-' : r.record.ms[v]!.toFixed(2)));
    lines.push(`| ${convShapeKey(r.shape)} | ${ms.join(' | ')} | ${r.record.variant} | ${r.from} |`);
  }
  return lines.join('\n');
}

/** A ParamLoader of zeros over a manifest's names and shapes (a dry run reads no values). */
function manifestModel(path: string): { cls: string; p: ParamLoader; config: Record<string, unknown> } {
  let m: { config?: Record<string, unknown>; keys?: { key: string; shape: number[] }[] };
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not a readable JSON manifest (${(e as Error).message})`);
  }
  if (!m.config || !Array.isArray(m.keys)) throw new Error(`${path}: expected a manifest with "config" and "keys" [{key, shape}]`);
  const shapes = new Map(m.keys.map((k) => [k.key, k.shape]));
  const p = ParamLoader.from((n) => {
    const shape = shapes.get(n);
    return shape && { shape, dtype: 'F32' as const, bytes: () => new Uint8Array(shape.reduce((a, b) => a * b, 1) * 4) };
  }, shapes.keys(), path);
  return { cls: String(m.config._class_name ?? 'AutoencoderKL'), p, config: m.config };
}

/** The conv shape classes one encode + decode of the model uses at size x size (a dry run). */
export async function modelConvShapes(path: string, size: number, isManifest: boolean): Promise<ConvShape[]> {
  const dry = await Gpu.create({ dryRun: true });
  const saved: TuneMode = convPolicy.tune;
  const savedStore = tuning.store;
  convPolicy.tune = 'full'; // every automatic choice is recorded
  tuning.store = null;
  try {
    const m = isManifest ? manifestModel(path) : undefined;
    const cls = m?.cls ?? modelClass(path);
    const run = (encode: ((x: Tensor) => { release(): void }) | null, decode: (z: Tensor) => Tensor, f: number) => {
      if (size % f) throw new Error(`tune: --size ${size} must be a multiple of ${f} for this model`);
      if (encode) encode(dry.empty([1, size, size, 3], 'image')).release();
      decode(dry.empty([1, size / f, size / f, 4], 'latent')).release();
    };
    if (cls === 'AutoencoderKL') {
      const vae = m ? new AutoencoderKL(dry, m.p, parseAutoencoderKLConfig(m.config, path)) : await AutoencoderKL.load(dry, path);
      run((x) => vae.encode(x), (z) => vae.decode(z), vae.downscale);
    } else if (cls === 'ConsistencyDecoderVAE') {
      const cd = m ? new ConsistencyDecoder(dry, m.p, parseConsistencyConfig(m.config, path)) : await ConsistencyDecoder.load(dry, path);
      const f = cd.downscale;
      const noise = [new Float32Array(3 * size * size), new Float32Array(3 * size * size)];
      run(cd.encoder ? (x) => cd.encode(x) : null, (z) => cd.decode(z, { noise }), f);
    } else if (cls === 'AutoencoderTiny') {
      const t = m ? new AutoencoderTiny(dry, m.p, parseAutoencoderTinyConfig(m.config, path)) : await AutoencoderTiny.load(dry, path);
      run((x) => t.encode(x), (z) => t.decode(z), 8);
    } else throw new Error(`${path}: model class "${cls}" is not supported by tune (AutoencoderKL, ConsistencyDecoderVAE, AutoencoderTiny)`);
    return seenConvShapes(dry);
  } finally {
    convPolicy.tune = saved;
    tuning.store = savedStore;
    dry.destroy();
  }
}

export const TUNE_OPTION_HELP = `  --tune off|cached|full conv kernel choice: off (default) the built-in rule; cached: measured winners
                         from the tuning cache or the shipped table, else the rule; full: also measure
                         (after this run) the shapes it had no winner for, for the next runs`;

/** `--tune MODE` of decode/encode: sets convPolicy.tune and, unless off, the user's cache file as the store. */
export function applyTuneOption(v: string | undefined): TuneMode {
  const mode = (v ?? 'off') as TuneMode;
  if (!['off', 'cached', 'full'].includes(mode)) throw new UsageError(`--tune: expected off, cached or full, got "${v}"`);
  convPolicy.tune = mode;
  if (mode !== 'off') tuning.store = fileTuneStore();
  return mode;
}

/** With --tune full: measures the classes the run found no winner for and saves them (progress on stderr). */
export async function tuneMissing(gpu: Gpu, mode: TuneMode): Promise<void> {
  if (mode !== 'full') return;
  const missing = missingConvShapes(gpu);
  if (!missing.length) return;
  progress(`tune: measuring ${missing.length} conv shape classes for the next runs (${tuning.store?.where})`);
  await tuneConvShapes(gpu, missing, { onRow: (r) => progress(`  ${convShapeKey(r.shape)}: ${r.record.variant}`) });
}
