// Models where diffusers users already keep them: the Hugging Face hub cache, laid out by
// huggingface_hub (https://huggingface.co/docs/huggingface_hub/guides/manage-cache):
//
//   $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub
//     models--ORG--NAME/
//       refs/main                 the commit hash the ref points to
//       snapshots/<commit>/<path> symlinks to ../../blobs/<etag> (sha256 for LFS files, git sha1 else)
//       blobs/<etag>              the file contents
//
// A hub id `ORG/NAME` (optionally `ORG/NAME/SUBFOLDER`, and `@REVISION`) resolves to the snapshot
// folder of refs/main; a pipeline repo (model_index.json, no config.json at its root) resolves to its
// `vae/` folder. OpenAI's own loader keeps `decoder.pt` in ~/.cache/clip: `openai/consistency-decoder`
// falls back to that file when the diffusers repo is not cached. Nothing is downloaded here; see
// fetchIntoHubCache for `sdvae weights fetch --hf-cache` and `sdvae compare`'s first run.

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { FetchError, fetchFile, sha256File, type FetchProgress } from './fetch.js';
import { MANIFEST } from './weights_manifest.js';

export interface HubId {
  repo: string;
  subfolder: string;
  revision: string;
}

/** `ORG/NAME[/SUBFOLDER...][@REVISION]`, or undefined when `s` is not shaped like one. */
export function parseHubId(s: string): HubId | undefined {
  const m = /^([A-Za-z0-9][\w.-]*)\/([\w.-]+)((?:\/[\w.-]+)*)(?:@([\w./-]+))?$/.exec(s);
  if (!m || s.includes('..')) return undefined;
  return { repo: `${m[1]}/${m[2]}`, subfolder: m[3].replace(/^\//, ''), revision: m[4] ?? 'main' };
}

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'huggingface', 'hub');
}

export const repoFolder = (cache: string, repo: string) => join(cache, `models--${repo.replace('/', '--')}`);

/** The snapshot folder of `revision` (a ref name or a commit hash), if the cache has it. */
export function snapshotDir(cache: string, repo: string, revision = 'main'): string | undefined {
  const root = repoFolder(cache, repo);
  const ref = join(root, 'refs', revision);
  const commit = existsSync(ref) ? readFileSync(ref, 'utf8').trim() : /^[0-9a-f]{40}$/.test(revision) ? revision : undefined;
  if (!commit || !/^[\w.-]+$/.test(commit)) return undefined;
  const dir = join(root, 'snapshots', commit);
  return existsSync(dir) ? dir : undefined;
}

const WEIGHTS = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors', 'diffusion_pytorch_model.bin'];

/** A model folder is usable when its config.json and a weights file resolve (symlinks included). */
function usableModelFolder(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && WEIGHTS.some((w) => existsSync(join(dir, w)));
}

export const CLIP_DECODER = (env: NodeJS.ProcessEnv = process.env) => join(env.HOME || homedir(), '.cache', 'clip', 'decoder.pt');

/**
 * A path that exists is returned as it is; a hub id resolves in the cache. Throws naming what was
 * looked for, and how to get it, when neither works.
 */
export function resolveCheckpointPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (existsSync(path)) return path;
  const id = parseHubId(path);
  if (!id) throw new Error(`${path}: no such file or folder`);
  const cache = hubCacheDir(env);
  const snap = snapshotDir(cache, id.repo, id.revision);
  const looked: string[] = [];
  if (snap) {
    const candidates = id.subfolder ? [join(snap, id.subfolder)] : [snap, join(snap, 'vae')];
    for (const c of candidates) {
      if (usableModelFolder(c)) return c;
      looked.push(c);
    }
  } else looked.push(`${repoFolder(cache, id.repo)} (refs/${id.revision} -> snapshots/)`);
  if (id.repo === 'openai/consistency-decoder' && !id.subfolder && existsSync(CLIP_DECODER(env))) return CLIP_DECODER(env);
  const entry = manifestEntryFor(id);
  throw new Error(
    `${path}: no such file or folder, and not in the Hugging Face cache (looked for ${looked.join(', ')}). ` +
      `Download it with ${entry ? `'sdvae weights fetch ${entry} --hf-cache'` : "'sdvae weights fetch NAME --hf-cache' (see 'sdvae weights list')"} or huggingface-cli download ${id.repo}`,
  );
}

/** The `sdvae weights` entry whose files live in this repo and folder, if any. */
function manifestEntryFor(id: HubId): string | undefined {
  for (const e of MANIFEST) {
    const config = e.files.find((f) => f.path.endsWith('config.json'));
    const r = config && parseResolveUrl(config.url);
    if (!r || r.repo !== id.repo) continue;
    const folder = r.path.includes('/') ? r.path.slice(0, r.path.lastIndexOf('/')) : '';
    if (folder === id.subfolder || (!id.subfolder && folder === 'vae')) return e.name;
  }
  return undefined;
}

/** A file of a hub repo to place in the cache. */
export interface HubFile {
  url: string;
  /** Path inside the repo (`vae/config.json`). */
  path: string;
  bytes?: number;
  sha256?: string;
}

/** `https://host/ORG/NAME/resolve/REV/PATH` -> repo, revision and path. */
export function parseResolveUrl(url: string): { repo: string; revision: string; path: string } | undefined {
  const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(new URL(url).pathname);
  return m ? { repo: m[1], revision: m[2], path: decodeURIComponent(m[3]) } : undefined;
}

/**
 * Downloads `files` of `repo` into the hub cache as huggingface_hub lays it out: each into
 * blobs/<etag> (resumable, size and sha256 checked by fetchFile), then the snapshot symlink and
 * refs/<revision>. The commit comes from the hub's X-Repo-Commit header (the ref name when a server
 * sends none). Returns the snapshot folder.
 */
export async function fetchIntoHubCache(repo: string, revision: string, files: HubFile[], opts: { cache?: string; onProgress?: (file: string, p: FetchProgress) => void; onFile?: (file: string, status: string) => void } = {}): Promise<string> {
  const cache = opts.cache ?? hubCacheDir();
  const root = repoFolder(cache, repo);
  let commit = '';
  for (const f of files) {
    const head = await headers(f.url);
    commit ||= (head['x-repo-commit'] as string | undefined) ?? revision;
    if (!/^[\w.-]+$/.test(commit)) throw new FetchError(`${f.url}: the server gave an unusable commit "${commit}"`);
    const etag = f.sha256 ?? cleanEtag((head['x-linked-etag'] ?? head.etag) as string | undefined);
    mkdirSync(join(root, 'blobs'), { recursive: true });
    let blob: string;
    if (etag) {
      blob = join(root, 'blobs', etag);
      const r = await fetchFile({ url: f.url, dest: blob, bytes: f.bytes, sha256: f.sha256, onProgress: (p) => opts.onProgress?.(f.path, p) });
      opts.onFile?.(f.path, r.status);
    } else {
      const tmp = join(root, 'blobs', `download-${process.pid}`);
      await fetchFile({ url: f.url, dest: tmp, bytes: f.bytes, onProgress: (p) => opts.onProgress?.(f.path, p) });
      blob = join(root, 'blobs', await sha256File(tmp));
      renameSync(tmp, blob);
      opts.onFile?.(f.path, 'downloaded');
    }
    const link = join(root, 'snapshots', commit, f.path);
    mkdirSync(dirname(link), { recursive: true });
    rmSync(link, { force: true });
    symlinkSync(relative(dirname(link), blob), link);
  }
  mkdirSync(join(root, 'refs'), { recursive: true });
  const ref = join(root, 'refs', revision);
  writeFileSync(`${ref}.tmp`, commit);
  renameSync(`${ref}.tmp`, ref);
  return join(root, 'snapshots', commit);
}

const cleanEtag = (e: string | undefined) => {
  const v = e?.replace(/^W\//, '').replace(/"/g, '');
  return v && /^[0-9a-f]{40,64}$/.test(v) ? v : undefined;
};

/** The headers of a HEAD request, without following the hub's redirect to its CDN (they carry the commit). */
function headers(url: string): Promise<http.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.request : http.request;
    const req = get(url, { method: 'HEAD', agent: false, timeout: 30_000 }, (res) => {
      res.resume();
      const s = res.statusCode ?? 0;
      if (s >= 400) reject(new FetchError(`${url}: HTTP ${s}`));
      else resolve(res.headers);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new FetchError(`${url}: ${e.message}`)));
    req.end();
  });
}

