// The models `sdvae compare` uses when none are given: the seed's pair, SD 1.5's VAE and OpenAI's
// consistency decoder (the manifest entries sd-v1-5-vae and consistency-decoder). Each is looked for
// in the Hugging Face cache under its hub id; a missing one is fetched into the cache (progress on
// stderr) the first time. Without a network the error lists every missing file and how to get it.

import { fetchIntoHubCache, hubCacheDir, parseResolveUrl, resolveCheckpointPath, type HubFile } from './hf_cache.js';
import type { FetchProgress } from './fetch.js';
import { findEntry, selectFiles, withBaseUrl, type Manifest, type ManifestEntry } from './weights_manifest.js';

export const DEFAULT_MODELS = { vae: 'sd-v1-5-vae', consistency: 'consistency-decoder' } as const;

/** The hub id an entry's files live under: `ORG/NAME` plus the folder of its config.json. */
export function hubIdOf(entry: ManifestEntry): string {
  const config = entry.files.find((f) => f.path.endsWith('config.json')) ?? entry.files[0];
  const r = parseResolveUrl(config.url);
  if (!r) throw new Error(`${entry.name}: ${config.url} is not a hub resolve URL`);
  const folder = r.path.includes('/') ? r.path.slice(0, r.path.lastIndexOf('/')) : '';
  return folder ? `${r.repo}/${folder}` : r.repo;
}

/** Downloads an entry (fp32 weights) into the hub cache; returns its hub id. */
export async function fetchEntryIntoHubCache(entry: ManifestEntry, opts: { base?: string; fp16?: boolean; cache?: string; onProgress?: (file: string, p: FetchProgress) => void; onFile?: (file: string, status: string) => void } = {}): Promise<string> {
  const byRepo = new Map<string, { revision: string; files: HubFile[] }>();
  for (const f of selectFiles(entry, opts.fp16 ?? false)) {
    const r = parseResolveUrl(f.url);
    if (!r) throw new Error(`${entry.name}: ${f.url} is not a hub resolve URL`);
    const group = byRepo.get(r.repo) ?? { revision: r.revision, files: [] };
    group.files.push({ url: withBaseUrl(f.url, opts.base), path: r.path, bytes: f.bytes, sha256: f.sha256 });
    byRepo.set(r.repo, group);
  }
  for (const [repo, g] of byRepo) await fetchIntoHubCache(repo, g.revision, g.files, { cache: opts.cache, onProgress: opts.onProgress, onFile: opts.onFile });
  return hubIdOf(entry);
}

/**
 * The path of a default model: found in the cache, or fetched into it. Throws one error naming the
 * missing files and the commands that get them when the download fails (no network).
 */
export async function ensureDefaultModel(manifest: Manifest, name: string, opts: { base?: string; onProgress?: (file: string, p: FetchProgress) => void; log?: (s: string) => void } = {}): Promise<string> {
  const entry = findEntry(manifest, name);
  if (!entry) throw new Error(`no manifest entry "${name}"`);
  const id = hubIdOf(entry);
  try {
    return resolveCheckpointPath(id);
  } catch {
    // not cached yet: fetch below
  }
  opts.log?.(`${id} is not in the Hugging Face cache (${hubCacheDir()}); downloading it (once)`);
  try {
    await fetchEntryIntoHubCache(entry, { base: opts.base, onProgress: opts.onProgress });
  } catch (e) {
    const files = selectFiles(entry, false).map((f) => `  ${withBaseUrl(f.url, opts.base)}`).join('\n');
    throw new Error(
      `${id} (${entry.description}) is not in the Hugging Face cache and could not be downloaded: ${(e as Error).message}\n` +
        `Missing files:\n${files}\n` +
        `Get them with 'sdvae weights fetch ${name} --hf-cache' on a machine with a network (then copy ${hubCacheDir()}), ` +
        `or pass --vae/--consistency with local files.`,
    );
  }
  return resolveCheckpointPath(id);
}
