// Checkpoints: a diffusers folder (config.json + diffusion_pytorch_model[.fp16].safetensors or .bin) or a
// single file (.safetensors, or a PyTorch .ckpt/.pt/.pth/.bin read as data: src/io/torch_checkpoint.ts,
// including OpenAI's decoder.pt), e.g. an original LDM / A1111 VAE (`encoder.down.0.block.0.norm1.weight`, optionally under a
// `first_stage_model.` prefix, as in vae-ft-mse-840000-ema-pruned.safetensors). Tensors are read
// one at a time when a module asks for them (a 2.6 GB file is never read whole), converted to f32.
//
// Names are mapped to diffusers' current names:
//   - legacy attention names of older diffusers (query/key/value/proj_attn -> to_q/to_k/to_v/to_out.0);
//   - the LDM layout (see ldmToDiffusers); its attention q/k/v/proj_out are 1x1 convs [C, C, 1, 1],
//     used here as the Linear [C, C] they equal.

import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveCheckpointPath } from './hf_cache.js';
import { SafetensorsFile } from './safetensors.js';
import { openTorchCheckpoint, TORCH_EXTENSIONS, type TensorTable } from './torch_checkpoint.js';
import type { TorchOpenOptions } from './torch_file.js';
import type { ParamDType, ParamEntry, ParamSource } from '../models/params.js';
import type { SafeDType } from './dtype.js';

export interface Checkpoint {
  /** The folder or file given. */
  path: string;
  /** The file the tensors come from (safetensors, or a PyTorch file: src/io/torch_checkpoint.ts). */
  weightsFile: string;
  /** config.json contents ({} for a single file without one). */
  config: Record<string, unknown>;
  configFile: string;
  /** diffusers names of every tensor, after renaming. */
  names: string[];
  source: ParamSource;
  /** 'diffusers' | 'diffusers-legacy-attention' | 'ldm' | 'openai-decoder' */
  layout: string;
  close(): void;
}

const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors', 'diffusion_pytorch_model.bin', 'diffusion_pytorch_model.fp16.bin'];

export function openCheckpoint(given: string, opts: TorchOpenOptions = {}): Checkpoint {
  const path = resolveCheckpointPath(given); // a path, or a hub id found in the Hugging Face cache
  let weightsFile = path;
  let config: Record<string, unknown> = {};
  let configFile = '';
  if (statSync(path).isDirectory()) {
    const found = WEIGHT_FILES.map((f) => join(path, f)).find((f) => existsSync(f));
    if (!found) throw new Error(`${path}: no ${WEIGHT_FILES.join(' or ')} in this folder`);
    weightsFile = found;
    configFile = join(path, 'config.json');
    if (!existsSync(configFile)) throw new Error(`${path}: no config.json in this folder`);
    try {
      config = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (e) {
      throw new Error(`${configFile}: invalid JSON (${(e as Error).message})`);
    }
  }
  const table = isTorchFile(weightsFile) ? openTorchCheckpoint(weightsFile, opts) : safetensorsTable(weightsFile);
  try {
    if (!configFile && Object.keys(table.config).length) config = table.config;
    const raw = table.names;
    const { rename, layout } = table.layout === 'openai-decoder' ? { rename: (n: string) => n, layout: table.layout } : chooseNaming(raw);
    const map = new Map<string, { stored: string; shape: readonly number[] }>();
    for (const stored of raw) {
      const name = rename(stored);
      if (name === null) continue;
      if (map.has(name)) throw new Error(`${weightsFile}: tensors "${map.get(name)!.stored}" and "${stored}" both map to "${name}"`);
      map.set(name, { stored, shape: asLinearShape(name, table.shape(stored)) });
    }
    const source: ParamSource = (name) => {
      const e = map.get(name);
      return e && table.entry(e.stored, e.shape);
    };
    return { path, weightsFile, config, configFile, names: [...map.keys()], source, layout, close: () => table.close() };
  } catch (e) {
    table.close();
    throw e;
  }
}

/** A PyTorch pickle file (by extension, or by its zip / pickle magic for other names). */
export function isTorchFile(file: string): boolean {
  if (file.endsWith('.safetensors')) return false;
  if (TORCH_EXTENSIONS.some((x) => file.endsWith(x))) return true;
  const fd = openSync(file, 'r');
  try {
    const head = new Uint8Array(4);
    readSync(fd, head, 0, 4, 0);
    return (head[0] === 0x50 && head[1] === 0x4b) || head[0] === 0x80;
  } finally {
    closeSync(fd);
  }
}

function configFromMetadata(text: string | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    const c = JSON.parse(text);
    return c && typeof c === 'object' && !Array.isArray(c) && typeof c._class_name === 'string' ? c : {};
  } catch {
    return {};
  }
}

function safetensorsTable(weightsFile: string): TensorTable {
  const file = SafetensorsFile.open(weightsFile);
  return {
    names: file.names(),
    shape: (n) => file.tensors.get(n)!.shape,
    entry: (n, shape) => ({ shape, dtype: paramDType(file.tensors.get(n)!.dtype), bytes: () => readParamBytes(file, n) }),
    // A file written by `sdvae convert` carries its config.json in the metadata.
    config: configFromMetadata(file.metadata.config),
    layout: '',
    close: () => file.close(),
  };
}

/** The attention projections of the LDM layout are 1x1 convs: [C, C, 1, 1] is used as [C, C]. */
function asLinearShape(name: string, shape: readonly number[]): readonly number[] {
  const isAttnProj = /attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(name);
  return isAttnProj && shape.length === 4 && shape[2] === 1 && shape[3] === 1 ? shape.slice(0, 2) : shape;
}

function chooseNaming(names: string[]): { rename: (n: string) => string | null; layout: string } {
  const hasPrefix = names.some((n) => n.startsWith('first_stage_model.'));
  const stripped = (n: string) => (hasPrefix ? (n.startsWith('first_stage_model.') ? n.slice('first_stage_model.'.length) : null) : n);
  const isLdm = names.some((n) => /(^|\.)(encoder|decoder)\.(down|up|mid)\./.test(n));
  if (isLdm) {
    const upCount = countUpBlocks(names.map(stripped).filter((n): n is string => n !== null));
    return { rename: (n) => mapOrNull(stripped(n), (s) => ldmToDiffusers(s, upCount)), layout: 'ldm' };
  }
  const legacy = names.some((n) => /attentions\.\d+\.(query|key|value|proj_attn)\./.test(n));
  return { rename: (n) => mapOrNull(stripped(n), legacyAttentionToCurrent), layout: legacy ? 'diffusers-legacy-attention' : 'diffusers' };
}

const mapOrNull = (n: string | null, f: (s: string) => string) => (n === null ? null : f(n));

/** Older diffusers (AttentionBlock) names. */
export function legacyAttentionToCurrent(name: string): string {
  return name.replace(/(attentions\.\d+\.)(query|key|value|proj_attn)\./, (_, pre: string, k: string) => `${pre}${{ query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' }[k]}.`);
}

function countUpBlocks(names: string[]): number {
  let n = 0;
  for (const s of names) {
    const m = /^decoder\.up\.(\d+)\./.exec(s);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/**
 * Original LDM names -> diffusers names. The LDM decoder numbers its `up` blocks from the lowest
 * resolution's opposite end (up.0 is the last block run), so up.{k} is up_blocks.{n-1-k}.
 */
export function ldmToDiffusers(name: string, upCount: number): string {
  const resnet = (s: string) => s.replace(/\.nin_shortcut\./, '.conv_shortcut.');
  return resnet(
    name
      .replace(/^(encoder|decoder)\.norm_out\./, '$1.conv_norm_out.')
      .replace(/^(encoder|decoder)\.mid\.block_(\d)\./, (_, m: string, i: string) => `${m}.mid_block.resnets.${Number(i) - 1}.`)
      .replace(/^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\./, (_, m: string, k: string) => `${m}.mid_block.attentions.0.${{ norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' }[k]}.`)
      .replace(/^encoder\.down\.(\d+)\.block\.(\d+)\./, 'encoder.down_blocks.$1.resnets.$2.')
      .replace(/^encoder\.down\.(\d+)\.downsample\./, 'encoder.down_blocks.$1.downsamplers.0.')
      .replace(/^decoder\.up\.(\d+)\.block\.(\d+)\./, (_, k: string, j: string) => `decoder.up_blocks.${upCount - 1 - Number(k)}.resnets.${j}.`)
      .replace(/^decoder\.up\.(\d+)\.upsample\./, (_, k: string) => `decoder.up_blocks.${upCount - 1 - Number(k)}.upsamplers.0.`),
  );
}

/** F32, F16 and BF16 stay as stored; any other dtype is converted to F32 on read. */
function paramDType(d: SafeDType): ParamDType {
  return d === 'F16' || d === 'BF16' ? d : 'F32';
}

function readParamBytes(file: SafetensorsFile, name: string): Uint8Array {
  const d = file.tensors.get(name)!.dtype;
  if (d === 'F32' || d === 'F16' || d === 'BF16') return file.readBytes(name);
  return new Uint8Array(file.readF32(name).buffer);
}
