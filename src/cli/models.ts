// Loading a model folder for the CLI: the model class comes from config.json's _class_name
// (AutoencoderKL, ConsistencyDecoderVAE or AutoencoderTiny); a single file is a VAE (.safetensors, .ckpt, .pt, .bin),
// except OpenAI's decoder.pt (a TorchScript consistency decoder), recognised by its module tree.

import type { ModelOptions } from '../pipeline.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from '../gpu/gpu.js';
import type { CaseRunner } from '../check/model_case.js';
import { vaeRunner } from '../check/vae_runner.js';
import { AutoencoderKL } from '../models/autoencoder_kl.js';
import { consistencyRunner } from '../check/consistency_runner.js';
import { ConsistencyDecoder } from '../models/consistency_decoder.js';
import { taesdRunner } from '../check/taesd_runner.js';
import { AutoencoderTiny } from '../models/autoencoder_tiny.js';
import { openCheckpoint } from '../io/weights.js';
import { resolveCheckpointPath } from '../io/hf_cache.js';

export function modelClass(given: string): string {
  const path = resolveCheckpointPath(given);
  if (!statSync(path).isDirectory()) {
    const ckpt = openCheckpoint(path);
    ckpt.close();
    return String(ckpt.config._class_name ?? 'AutoencoderKL');
  }
  const cfg = join(path, 'config.json');
  if (!existsSync(cfg)) throw new Error(`${path}: no config.json in this folder`);
  try {
    return String(JSON.parse(readFileSync(cfg, 'utf8'))._class_name ?? 'AutoencoderKL');
  } catch (e) {
    throw new Error(`${cfg}: invalid JSON (${(e as Error).message})`);
  }
}

/** `encoderPath`: a model whose encoder runs the encode cases of a consistency decoder without one. */
export async function loadRunner(gpu: Gpu, path: string, encoderPath?: string, opts: ModelOptions = {}): Promise<CaseRunner> {
  const cls = modelClass(path);
  const withActivations = <M extends AutoencoderKL | ConsistencyDecoder>(m: M): M => {
    if (opts.activations) m.setActivations(opts.activations, { force: opts.forceF16 });
    return m;
  };
  if (cls === 'AutoencoderKL') return vaeRunner(withActivations(await AutoencoderKL.load(gpu, path, opts)));
  if (cls === 'ConsistencyDecoderVAE') {
    const encoder = encoderPath ? (modelClass(encoderPath) === 'ConsistencyDecoderVAE' ? await ConsistencyDecoder.load(gpu, encoderPath, opts) : await AutoencoderKL.load(gpu, encoderPath, opts)) : undefined;
    return consistencyRunner(withActivations(await ConsistencyDecoder.load(gpu, path, opts)), encoder);
  }
  if (cls === 'AutoencoderTiny') {
    if (opts.activations === 'f16') throw new Error(`${path}: AutoencoderTiny (TAESD) has no f16 activation path`);
    return taesdRunner(await AutoencoderTiny.load(gpu, path, opts));
  }
  throw new Error(`${path}: model class "${cls}" is not supported by check (AutoencoderKL, ConsistencyDecoderVAE, AutoencoderTiny)`);
}
