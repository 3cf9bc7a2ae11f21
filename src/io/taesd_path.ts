// Node: where `--taesd madebyollin/taesd` points (kept out of pipeline.ts, which runs in pages too).

import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The hub id `madebyollin/taesd` stands for the folder `sdvae weights fetch taesd` fills. */
export function resolveTaesdPath(arg: string, weightsDir = 'weights'): string {
  if (arg !== 'madebyollin/taesd' || existsSync(arg)) return arg;
  const dir = join(weightsDir, 'taesd');
  if (!existsSync(dir)) throw new Error(`--taesd ${arg}: ${dir} does not exist; download it with 'sdvae weights fetch taesd' (or give the folder)`);
  return dir;
}
