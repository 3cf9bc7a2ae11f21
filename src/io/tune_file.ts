// The tuner's store in Node: one JSON file in the user's cache folder,
// $XDG_CACHE_HOME/sdvae-webgpu/tune.json (default ~/.cache/sdvae-webgpu/tune.json; $SDVAE_TUNE_FILE
// names another file, without moving the rest of the cache folder, e.g. Mesa's shader cache), shared by every
// adapter (results are keyed inside it by adapter info and library version; gpu/tune.ts). Written to
// a temporary file in the same folder and renamed, so a crash mid-write never leaves half a file.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuneStore } from '../gpu/tune.js';

export function defaultTuneFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SDVAE_TUNE_FILE) return env.SDVAE_TUNE_FILE;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'sdvae-webgpu', 'tune.json');
}

export function fileTuneStore(path = defaultTuneFilePath()): TuneStore {
  return {
    where: path,
    read() {
      try {
        return readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new Error(`cannot read ${path}: ${(e as Error).message}`);
      }
    },
    write(text) {
      mkdirSync(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, path);
    },
  };
}
