// OpenAI's consistency decoder as published: `decoder.pt`, a TorchScript archive (torch.jit.save of a
// traced module; https://github.com/openai/consistencydecoder). Its data.pkl is a tree of module
// objects (`__torch__.*` NEWOBJ + BUILD, state dicts of sub-modules and tensors); it is read as data
// here, and its code/ folder never is. The leaf names follow OpenAI's module:
//
//   blocks.embed_image.f.{w,b}                  -> decoder_unet.conv_in.{weight,bias}
//   blocks.embed_time.emb[.weight] ([1024, C0]) -> decoder_unet.time_proj.weight
//   blocks.embed_time.f_1 / f_2                 -> decoder_unet.time_embedding.linear_1 / linear_2
//   blocks.down_{i}_conv_{j}                    -> decoder_unet.down_blocks.{i}.resnets.{j}
//   blocks.down_{i}_downsamp                    -> decoder_unet.down_blocks.{i}.downsamplers.0
//   blocks.mid_{k}                              -> decoder_unet.mid_block.resnets.{k}
//   blocks.up_{i}_conv_{j}                      -> decoder_unet.up_blocks.{L-1-i}.resnets.{j}
//   blocks.up_{i}_upsamp                        -> decoder_unet.up_blocks.{L-1-i}.upsamplers.0
//   blocks.output.gn / f                        -> decoder_unet.conv_norm_out / conv_out
//   inside a resnet: gn_1 norm1, f_1 conv1, f_t time_emb_proj, gn_2 norm2, f_2 conv2, f_s conv_shortcut
//   leaf tensors: w / g -> weight, b -> bias
//
// (diffusers' scripts/convert_consistency_decoder.py.) OpenAI numbers the up blocks from the
// full-resolution end: in the tiny fixture, up_0_conv_0 takes 96 = 64 + 32 channels to 32, which is
// diffusers' last up block, so up_{i} is up_blocks.{L-1-i} for L up levels. The time-embedding table is looked for wherever it can be: a parameter or
// buffer of embed_time, or a [num_timesteps, C0] tensor among the traced constants (constants.pkl).
// Any name that does not map, and any tensor the UNet needs that is missing, is listed in one error.

import { CheckpointFormatError } from './byte_reader.js';
import { PyObject, PyTuple, type PyValue } from './pickle.js';
import { TorchTensor, type TorchFile } from './torch_file.js';

/** Whether a torch file is a TorchScript module tree with OpenAI's `blocks` layout. */
export function isOpenAIDecoder(f: TorchFile): boolean {
  return f.root instanceof PyObject && f.root.state instanceof Map && f.root.state.get('blocks') instanceof PyObject;
}

/** Every tensor of a TorchScript module tree by its dotted path (`blocks.down_0_conv_0.f_1.w`). */
export function moduleTensors(root: PyValue): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  const seen = new Set<PyValue>();
  const walk = (v: PyValue, path: string, depth: number) => {
    if (v instanceof TorchTensor) return void (out.has(path) || out.set(path, v));
    if (!(v instanceof PyObject) || seen.has(v) || depth > 64) return;
    seen.add(v); // each module once, so a cyclic or shared tree cannot blow up the walk
    const state = v.state instanceof Map ? v.state : undefined;
    if (!state) return;
    for (const [k, child] of state) if (typeof k === 'string') walk(child, path ? `${path}.${k}` : k, depth + 1);
  };
  walk(root, '', 0);
  return out;
}

const RESNET_LEAF: Record<string, string> = { gn_1: 'norm1', f_1: 'conv1', f_t: 'time_emb_proj', gn_2: 'norm2', f_2: 'conv2', f_s: 'conv_shortcut' };
const PARAM: Record<string, string> = { w: 'weight', g: 'weight', b: 'bias' };

/** OpenAI name -> diffusers name under decoder_unet., or undefined when it does not map. */
export function openaiToDiffusers(name: string, upLevels: number): string | undefined {
  const m = /^blocks\.(.+)\.([^.]+)\.([wgb])$/.exec(name);
  if (!m) return undefined;
  const [, block, leaf, p] = m;
  const param = PARAM[p];
  let r: RegExpExecArray | null;
  const resnet = (prefix: string) => (RESNET_LEAF[leaf] ? `${prefix}.${RESNET_LEAF[leaf]}.${param}` : undefined);
  if (block === 'embed_image' && leaf === 'f') return `conv_in.${param}`;
  if (block === 'embed_time' && (leaf === 'f_1' || leaf === 'f_2')) return `time_embedding.linear_${leaf.slice(2)}.${param}`;
  if (block === 'output' && leaf === 'gn') return `conv_norm_out.${param}`;
  if (block === 'output' && leaf === 'f') return `conv_out.${param}`;
  if ((r = /^down_(\d+)_conv_(\d+)$/.exec(block))) return resnet(`down_blocks.${r[1]}.resnets.${r[2]}`);
  if ((r = /^down_(\d+)_downsamp$/.exec(block))) return resnet(`down_blocks.${r[1]}.downsamplers.0`);
  if ((r = /^mid_(\d+)$/.exec(block))) return resnet(`mid_block.resnets.${r[1]}`);
  const up = (i: string) => upLevels - 1 - Number(i);
  if ((r = /^up_(\d+)_conv_(\d+)$/.exec(block)) && up(r[1]) >= 0) return resnet(`up_blocks.${up(r[1])}.resnets.${r[2]}`);
  if ((r = /^up_(\d+)_upsamp$/.exec(block)) && up(r[1]) >= 0) return resnet(`up_blocks.${up(r[1])}.upsamplers.0`);
  return undefined;
}

export interface OpenAIDecoderTensors {
  /** diffusers name (decoder_unet.*) -> tensor. */
  tensors: Map<string, TorchTensor>;
  /** A ConsistencyDecoderVAE config.json for this UNet (the encoder part: SD 1.x's). */
  config: Record<string, unknown>;
  /** Where the time-embedding table was found. */
  timeTable: string;
}

export function openaiDecoderTensors(f: TorchFile): OpenAIDecoderTensors {
  const fail = (problem: string): never => {
    throw new CheckpointFormatError(f.path, problem);
  };
  const found = moduleTensors(f.root);
  const tensors = new Map<string, TorchTensor>();
  const unmapped: string[] = [];
  let timeTable = '';
  const upLevels = [...found.keys()].reduce((n, name) => Math.max(n, 1 + Number(/^blocks\.up_(\d+)_/.exec(name)?.[1] ?? -1)), 0);
  for (const [name, t] of found) {
    // The table: any 2-D tensor of embed_time other than its two linears (a buffer `emb`, or the
    // parameter `emb.weight` of an nn.Embedding).
    if (/^blocks\.embed_time\.(?!f_\d+\.)/.test(name) && t.shape.length === 2 && !tensors.has('decoder_unet.time_proj.weight')) {
      tensors.set('decoder_unet.time_proj.weight', t);
      timeTable = name;
      continue;
    }
    const mapped = openaiToDiffusers(name, upLevels);
    if (mapped) tensors.set(`decoder_unet.${mapped}`, t);
    else unmapped.push(name);
  }
  const conv = tensors.get('decoder_unet.conv_in.weight');
  if (!timeTable && conv) {
    // A traced constant: the [num_timesteps, C0] tensor among constants.pkl's.
    const c0 = conv.shape[0];
    const consts = f.constants instanceof PyTuple ? f.constants.items : [];
    const i = consts.findIndex((t) => t instanceof TorchTensor && t.shape.length === 2 && t.shape[1] === c0 && t.shape[0] >= 1000);
    if (i >= 0) {
      tensors.set('decoder_unet.time_proj.weight', consts[i] as TorchTensor);
      timeTable = `constants.pkl[${i}]`;
    }
  }
  const problems = unmapped.map((n) => `no diffusers name for ${n}`);
  if (!conv) problems.push('missing: blocks.embed_image.f.w (the UNet conv_in)');
  if (!timeTable) problems.push('missing: the time-embedding table (looked for a 2-D tensor of blocks.embed_time and a [num_timesteps, C0] traced constant)');
  if (problems.length) fail(`not a consistency decoder this reader can map (${problems.length} problem(s)):\n  ${problems.join('\n  ')}`);
  return { tensors, config: inferConfig(tensors, f.path), timeTable };
}

/** decoder_block_out_channels and layers from the shapes (diffusers' ConsistencyDecoderVAE defaults otherwise). */
function inferConfig(tensors: Map<string, TorchTensor>, file: string): Record<string, unknown> {
  const channels: number[] = [];
  let layers = 0;
  for (const name of tensors.keys()) {
    const m = /^decoder_unet\.down_blocks\.(\d+)\.resnets\.(\d+)\.conv1\.weight$/.exec(name);
    if (!m) continue;
    const [i, j] = [Number(m[1]), Number(m[2])];
    channels[i] = Math.max(channels[i] ?? 0, tensors.get(name)!.shape[0]);
    layers = Math.max(layers, j + 1);
  }
  if (!channels.length || channels.some((c) => c === undefined)) throw new CheckpointFormatError(file, 'cannot read the UNet levels off down_{i}_conv_{j} tensors');
  const table = tensors.get('decoder_unet.time_proj.weight')!;
  const convIn = tensors.get('decoder_unet.conv_in.weight')!;
  const convOut = tensors.get('decoder_unet.conv_out.weight');
  return {
    _class_name: 'ConsistencyDecoderVAE',
    _source: 'openai-decoder.pt',
    decoder_block_out_channels: channels,
    decoder_layers_per_block: layers,
    decoder_in_channels: convIn.shape[1],
    decoder_out_channels: convOut?.shape[0] ?? 6,
    decoder_num_train_timesteps: table.shape[0],
    decoder_norm_eps: 1e-5,
    decoder_norm_num_groups: 32,
    // decoder.pt has no encoder; these give the latent geometry of SD 1.x (8x), which OpenAI's
    // decoder assumes (it upsamples the latent 8x itself).
    encoder_block_out_channels: [128, 256, 512, 512],
    encoder_layers_per_block: 2,
    latent_channels: 4,
    scaling_factor: 0.18215,
  };
}

