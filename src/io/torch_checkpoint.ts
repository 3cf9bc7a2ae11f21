// The tensors of a PyTorch checkpoint file, as a flat table the models can load (src/io/weights.ts
// applies the same naming as for safetensors afterwards).
//
//   SD VAE files (.ckpt, .vae.pt, .pt, .bin, .pth): a state dict, possibly nested under "state_dict"
//     (Lightning checkpoints, repeatedly), with the VAE under "first_stage_model." (full SD
//     checkpoints and vae-ft-mse-840000-ema-pruned.ckpt) or "vae." (some exports). Training-only
//     entries "loss.*" (the discriminator and LPIPS) and "model_ema.*" are dropped; every non-tensor
//     value (epoch, global_step, callbacks) is ignored.
//   OpenAI's decoder.pt: a TorchScript module tree, mapped by src/io/openai_decoder.ts to
//     decoder_unet.* with a synthesized ConsistencyDecoderVAE config.

import type { ParamEntry } from '../models/params.js';
import { CheckpointFormatError } from './byte_reader.js';
import { isOpenAIDecoder, openaiDecoderTensors } from './openai_decoder.js';
import { TorchTensor, type TorchFile, type TorchOpenOptions } from './torch_file.js';
import { openTorchFile } from './file_reader.js';
import { torchParamEntry } from './torch_tensor.js';

export interface TensorTable {
  /** Stored names, in file order. */
  names: string[];
  shape(name: string): readonly number[];
  /** The entry of a stored tensor, presented with `shape` (same element count). */
  entry(name: string, shape: readonly number[]): ParamEntry;
  /** The config the file implies ({} when it implies none). */
  config: Record<string, unknown>;
  /** 'openai-decoder' for decoder.pt, '' otherwise (the naming decides). */
  layout: string;
  close(): void;
}

export const TORCH_EXTENSIONS = ['.ckpt', '.pt', '.pth', '.bin'];

export function openTorchCheckpoint(path: string, opts: TorchOpenOptions = {}): TensorTable {
  const file = openTorchFile(path, opts);
  try {
    if (isOpenAIDecoder(file)) {
      const { tensors, config } = openaiDecoderTensors(file);
      return table(file, tensors, config, 'openai-decoder');
    }
    return table(file, sdVaeStateDict(file), {}, '');
  } catch (e) {
    file.close();
    throw e;
  }
}

function table(file: TorchFile, tensors: Map<string, TorchTensor>, config: Record<string, unknown>, layout: string): TensorTable {
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new CheckpointFormatError(file.path, `no tensor named ${JSON.stringify(name)}`);
    return t;
  };
  return {
    names: [...tensors.keys()],
    shape: (name) => get(name).shape,
    entry: (name, shape) => torchParamEntry(file.reader, get(name), shape),
    config,
    layout,
    close: () => file.close(),
  };
}

/** The VAE's tensors by their stored names (prefixes kept: weights.ts strips first_stage_model.). */
export function sdVaeStateDict(file: TorchFile): Map<string, TorchTensor> {
  let dict = file.root;
  for (let depth = 0; dict instanceof Map && dict.get('state_dict') instanceof Map && depth < 8; depth++) dict = dict.get('state_dict');
  if (!(dict instanceof Map)) throw new CheckpointFormatError(file.path, 'the pickled object is not a state dict (a dict of tensors) nor a module this reader knows');
  const all = new Map<string, TorchTensor>();
  for (const [k, v] of dict) if (typeof k === 'string' && v instanceof TorchTensor && !/^(first_stage_model\.|vae\.)?(loss|model_ema)\./.test(k)) all.set(k, v);
  if (!all.size) throw new CheckpointFormatError(file.path, 'the state dict holds no tensors');
  const names = [...all.keys()];
  // "vae." is stripped here; "first_stage_model." is left to the shared naming (weights.ts), which
  // also drops the rest of a full SD checkpoint (model.diffusion_model.*, cond_stage_model.*).
  if (!names.some((n) => n.startsWith('first_stage_model.')) && names.some((n) => n.startsWith('vae.'))) {
    return new Map([...all].filter(([k]) => k.startsWith('vae.')).map(([k, v]) => [k.slice(4), v]));
  }
  return all;
}
