// `sdvae convert`: whatever openCheckpoint reads (a PyTorch .ckpt/.pt/.bin, OpenAI's decoder.pt, an
// LDM-layout safetensors file) written back as safetensors with diffusers' names, so a user can leave
// pickles behind once. Two outputs:
//
//   OUT.safetensors   one file; the model config travels in its metadata ("config", JSON), which
//                     openCheckpoint reads back when no config.json is beside it
//   OUT (a folder)    a diffusers model folder: config.json + diffusion_pytorch_model.safetensors
//
// Tensors keep their stored dtype when it is F32, F16 or BF16 (others were converted to F32 on read).
// The file is streamed tensor by tensor (a 2.5 GB decoder.pt is never held in memory): the header is
// built first from shapes and dtypes, then each tensor is read and appended. It goes to a temporary
// name in the same folder and is renamed only when complete; an existing output is never replaced
// unless `force`.

import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { inferAutoencoderKLConfig } from '../models/autoencoder_kl.js';
import { openCheckpoint, type Checkpoint } from './weights.js';

export interface ConvertResult {
  weightsFile: string;
  configFile?: string;
  tensors: number;
  bytes: number;
  layout: string;
}

const SIZE = { F32: 4, F16: 2, BF16: 2 } as const;

export async function convertCheckpoint(input: string, output: string, opts: { force?: boolean; strict?: boolean; onTensor?: (i: number, n: number, name: string) => void } = {}): Promise<ConvertResult> {
  const folder = !output.endsWith('.safetensors');
  const weightsFile = folder ? join(output, 'diffusion_pytorch_model.safetensors') : output;
  const configFile = folder ? join(output, 'config.json') : undefined;
  for (const f of [weightsFile, configFile]) if (f && fs.existsSync(f) && !opts.force) throw new Error(`${f} already exists; use --force to overwrite it`);
  const ckpt = openCheckpoint(input, { strict: opts.strict });
  try {
    const config = modelConfig(ckpt);
    const entries = ckpt.names.map((name) => ({ name, entry: ckpt.source(name)! }));
    const header: Record<string, unknown> = {
      __metadata__: { format: 'pt', source: basename(input), source_layout: ckpt.layout, ...(folder ? {} : { config: JSON.stringify(config) }) },
    };
    let offset = 0;
    for (const { name, entry } of entries) {
      const bytes = entry.shape.reduce((a, b) => a * b, 1) * SIZE[entry.dtype];
      header[name] = { dtype: entry.dtype, shape: entry.shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const headerBytes = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    headerBytes.set(json);
    if (folder) fs.mkdirSync(output, { recursive: true });
    await writeAtomically(weightsFile, async (fd) => {
      const len = new Uint8Array(8);
      new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
      fs.writeSync(fd, len);
      fs.writeSync(fd, headerBytes);
      for (const [i, { name, entry }] of entries.entries()) {
        opts.onTensor?.(i, entries.length, name);
        const bytes = await entry.bytes();
        const want = (header[name] as { data_offsets: number[] }).data_offsets;
        if (bytes.length !== want[1] - want[0]) throw new Error(`${input}: tensor ${name} gave ${bytes.length} bytes, expected ${want[1] - want[0]}`);
        fs.writeSync(fd, bytes);
      }
    });
    if (configFile) await writeAtomically(configFile, async (fd) => void fs.writeSync(fd, JSON.stringify(config, null, 2) + '\n'));
    return { weightsFile, configFile, tensors: entries.length, bytes: 8 + headerBytes.length + offset, layout: ckpt.layout };
  } finally {
    ckpt.close();
  }
}

/** The config.json for what was read: the checkpoint's own, or one read off a VAE's shapes. */
function modelConfig(ckpt: Checkpoint): Record<string, unknown> {
  if (Object.keys(ckpt.config).length) return ckpt.config;
  return { _class_name: 'AutoencoderKL', ...inferAutoencoderKLConfig(ckpt.names, ckpt.source) };
}

async function writeAtomically(file: string, write: (fd: number) => Promise<void>): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    await write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
