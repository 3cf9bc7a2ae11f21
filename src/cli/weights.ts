// sdvae weights: list, fetch and verify the checkpoints of src/io/weights_manifest.ts.
//
//   sdvae weights list   [--dir weights]
//   sdvae weights fetch  NAME [--dir weights] [--fp16] [--force] [--base-url URL]
//   sdvae weights verify NAME [--dir weights] [--fp16]
//
// Downloads go through fetchFile (src/io/fetch.ts): resumable, retried, verified before they are put
// in place. Progress goes to stderr (one line rewritten with \r on a terminal, else a line every 5%
// so that logs stay short); results go to stdout. Exit status: 0 ok, 1 failure, 2 usage error.
//
// --base-url (default $HF_ENDPOINT, the variable huggingface_hub reads) moves every URL onto another
// host with the same paths: a mirror of the hub, or the local server of the tests.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkFile, describeCheck, fetchFile, type FetchProgress } from '../io/fetch.js';
import { fetchEntryIntoHubCache } from '../io/default_models.js';
import { hubCacheDir } from '../io/hf_cache.js';
import {
  HUB,
  MANIFEST,
  findEntry,
  selectFiles,
  withBaseUrl,
  type Manifest,
  type ManifestEntry,
  type ManifestFile,
} from '../io/weights_manifest.js';

export const WEIGHTS_HELP = `sdvae weights list [--dir DIR]
sdvae weights fetch NAME [--dir DIR] [--fp16] [--force] [--base-url URL]
sdvae weights fetch NAME --hf-cache [--fp16] [--base-url URL]
sdvae weights verify NAME [--dir DIR] [--fp16]

list     the known checkpoints, and which of their files are in DIR
fetch    download NAME's config.json and weights (fp32, or fp16 with --fp16) into DIR/NAME,
         resuming an interrupted download; each file is checked against its published size and
         sha256 before it is put in place. Files already present and verified are not downloaded.
verify   check the files of NAME present in DIR/NAME (with --fp16: require the fp16 weights)

--hf-cache       fetch into the Hugging Face hub cache instead ($HF_HUB_CACHE, $HF_HOME/hub or
                 ~/.cache/huggingface/hub, laid out as huggingface_hub does: blobs/, snapshots/, refs/),
                 where diffusers finds it too; then load it by hub id (--vae ORG/NAME/vae)
--dir DIR        destination folder (default: weights)
--force          replace files that fail verification or have no published sha256
--base-url URL   download from this host instead of ${HUB} (default: $HF_ENDPOINT)`;

/** Where output goes; the tests pass their own to capture it. */
export interface Out {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface WeightsDeps {
  manifest?: Manifest;
  stdout?: Out;
  stderr?: Out;
}

class UsageError extends Error {}

export async function runWeights(argv: string[], deps: WeightsDeps = {}): Promise<number> {
  const manifest = deps.manifest ?? MANIFEST;
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        dir: { type: 'string', default: 'weights' },
        fp16: { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        'base-url': { type: 'string' },
        'hf-cache': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      out.write(`${WEIGHTS_HELP}\n`);
      return 0;
    }
    const [cmd, name, ...extra] = positionals;
    if (cmd === 'list') {
      if (name !== undefined) throw new UsageError('list takes no NAME');
      return list(manifest, values.dir!, out);
    }
    if (cmd !== 'fetch' && cmd !== 'verify') throw new UsageError(cmd ? `unknown subcommand "${cmd}"` : 'no subcommand');
    if (name === undefined || extra.length > 0) throw new UsageError(`${cmd} takes one NAME`);
    const entry = findEntry(manifest, name);
    if (!entry) throw new UsageError(`unknown checkpoint "${name}" (known: ${manifest.map((e) => e.name).join(', ')})`);
    if (cmd === 'fetch') {
      const base = values['base-url'] ?? process.env.HF_ENDPOINT;
      if (values['hf-cache']) return await fetchIntoCache(entry, values.fp16!, base, out, err);
      return await fetchEntry(entry, values.dir!, values.fp16!, values.force!, base, out, err);
    }
    return await verifyEntry(entry, values.dir!, values.fp16!, out, err);
  } catch (e) {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    err.write(`sdvae weights: ${(e as Error).message}\n${usage ? `\n${WEIGHTS_HELP}\n` : ''}`);
    return usage ? 2 : 1;
  }
}

function list(manifest: Manifest, dir: string, out: Out): number {
  for (const entry of manifest) {
    out.write(`${entry.name}  (--${entry.kind} ${join(dir, entry.name)})\n  ${entry.description}\n`);
    for (const f of entry.files) {
      const path = join(dir, f.path);
      const state = existsSync(path) ? 'present' : existsSync(`${path}.part`) ? 'partial' : 'missing';
      const size = f.bytes === undefined ? 'size unknown' : formatBytes(f.bytes);
      out.write(`  ${state.padEnd(8)} ${f.path}  ${size}${f.variant ? `  ${f.variant}` : ''}\n`);
    }
  }
  return 0;
}

async function fetchEntry(
  entry: ManifestEntry,
  dir: string,
  fp16: boolean,
  force: boolean,
  base: string | undefined,
  out: Out,
  err: Out,
): Promise<number> {
  for (const f of selectFiles(entry, fp16)) {
    const url = withBaseUrl(f.url, base);
    const dest = join(dir, f.path);
    const progress = progressLine(f.path, err);
    try {
      const r = await fetchFile({ url, dest, bytes: f.bytes, sha256: f.sha256, force, onProgress: progress.update });
      progress.end();
      const how = r.checked ? 'sha256 matches the published value' : `sha256 ${r.sha256}, unchecked: no published value`;
      out.write(`${r.status === 'present' ? 'present   ' : 'downloaded'} ${dest}  ${formatBytes(r.bytes)}, ${how}\n`);
    } catch (e) {
      progress.end();
      err.write(`sdvae weights: ${(e as Error).message}\n`);
      return 1;
    }
  }
  out.write(`${entry.name}: use --${entry.kind} ${join(dir, entry.name)}\n`);
  return 0;
}

async function fetchIntoCache(entry: ManifestEntry, fp16: boolean, base: string | undefined, out: Out, err: Out): Promise<number> {
  let progress: ReturnType<typeof progressLine> | undefined;
  let current = '';
  try {
    const id = await fetchEntryIntoHubCache(entry, {
      base,
      fp16,
      onProgress: (file, p) => {
        if (file !== current) {
          progress?.end();
          progress = progressLine(file, err);
          current = file;
        }
        progress!.update(p);
      },
      onFile: (file, status) => {
        progress?.end();
        out.write(`${status === 'present' ? 'present   ' : 'downloaded'} ${file}\n`);
      },
    });
    out.write(`${entry.name}: in ${hubCacheDir()}; use --${entry.kind} ${id}\n`);
    return 0;
  } catch (e) {
    progress?.end();
    err.write(`sdvae weights: ${(e as Error).message}\n`);
    return 1;
  }
}

async function verifyEntry(entry: ManifestEntry, dir: string, fp16: boolean, out: Out, err: Out): Promise<number> {
  // With --fp16 the fp16 set is required; without, whatever is present is checked, and the folder
  // needs its config.json and at least one weights file.
  const files: ManifestFile[] = fp16 ? selectFiles(entry, true) : [...entry.files];
  let failures = 0;
  let weights = 0;
  for (const f of files) {
    const path = join(dir, f.path);
    if (!existsSync(path)) {
      if (f.variant === undefined || fp16) {
        out.write(`MISSING   ${path}\n`);
        failures++;
      }
      continue;
    }
    const c = await checkFile(path, f);
    const bad = c.sizeOk === false || c.shaOk === false;
    const tag = bad ? 'BAD' : c.shaOk ? 'OK' : 'UNCHECKED';
    out.write(`${tag.padEnd(9)} ${path}  ${describeCheck(c, f)}\n`);
    if (bad) failures++;
    if (f.variant) weights++;
  }
  if (weights === 0 && !fp16) {
    out.write(`MISSING   ${join(dir, entry.name)}: no weights file\n`);
    failures++;
  }
  if (failures > 0) {
    err.write(`sdvae weights: ${entry.name}: ${failures} problem(s); 'sdvae weights fetch ${entry.name}' downloads what is missing\n`);
    return 1;
  }
  return 0;
}

/** Progress on stderr: rewritten in place on a terminal (at most 5 times a second), else one line
 *  per 5% (per 64 MB when the size is unknown). */
export function progressLine(label: string, err: Out): { update: (p: FetchProgress) => void; end: () => void } {
  let last = '';
  let lastTime = 0;
  let lastStep = -1;
  let open = false;
  const text = (p: FetchProgress) => {
    const pct = p.total ? `${((100 * p.done) / p.total).toFixed(1).padStart(5)}% ` : '';
    const of = p.total ? `/${formatBytes(p.total)}` : '';
    const eta = p.total && p.rate > 0 ? `  ETA ${formatSeconds((p.total - p.done) / p.rate)}` : '';
    return `${label}  ${pct}${formatBytes(p.done)}${of}  ${formatBytes(p.rate)}/s${eta}`;
  };
  return {
    update(p) {
      last = text(p);
      if (err.isTTY) {
        const now = Date.now();
        if (now - lastTime < 200 && p.done !== p.total) return;
        lastTime = now;
        err.write(`\r${last}\x1b[K`);
        open = true;
        return;
      }
      const step = p.total ? Math.floor((20 * p.done) / p.total) : Math.floor(p.done / 64e6);
      if (step !== lastStep) {
        lastStep = step;
        err.write(`${last}\n`);
      }
    },
    end() {
      if (open) err.write(`\r${last}\x1b[K\n`); // the final state, which throttling may have skipped
      open = false;
    },
  };
}

export function formatBytes(n: number): string {
  if (n < 1e3) return `${Math.round(n)} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
