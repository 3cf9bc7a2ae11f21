// Stored-latent files in Node (the format: latents_format.ts, shared with the page).

import { existsSync } from 'node:fs';
import { latentFromTensors, latentTensors, type StoredLatent } from './latents_format.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export * from './latents_format.js';

export function writeLatentFile(path: string, latent: StoredLatent, opts: { force?: boolean } = {}): void {
  const { tensors, metadata } = latentTensors(latent, path);
  if (!opts.force && existsSync(path)) throw new Error(`${path} already exists; use --force to overwrite it`);
  writeSafetensors(path, tensors, metadata);
}

export function readLatentFile(path: string): StoredLatent {
  const { metadata, tensors } = readSafetensors(path);
  return latentFromTensors(path, metadata, tensors);
}
