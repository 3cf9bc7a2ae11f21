// Node: where `--taesd ARG` points (kept out of pipeline.ts, which runs in pages too).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveCheckpointPath } from './hf_cache.js';

/**
 * The folder `--taesd ARG` loads: ARG itself when it exists; else a Hugging Face hub id resolved in the
 * hub cache, as `--vae` and `--consistency` resolve theirs (resolveCheckpointPath); else, for
 * `madebyollin/taesd`, the folder `sdvae weights fetch taesd` fills (`weightsDir`/taesd).
 */
export function resolveTaesdPath(arg: string, weightsDir = 'weights', env: NodeJS.ProcessEnv = process.env): string {
  if (existsSync(arg)) return arg;
  try {
    return resolveCheckpointPath(arg, env);
  } catch (e) {
    if (arg !== 'madebyollin/taesd') throw e;
    const dir = join(weightsDir, 'taesd');
    if (existsSync(dir)) return dir;
    throw new Error(`--taesd ${arg}: not in the Hugging Face cache, and ${dir} does not exist; download it with 'sdvae weights fetch taesd' (add --hf-cache for the hub cache), or give the folder`);
  }
}
