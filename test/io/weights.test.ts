// Checkpoint layouts: the same tiny VAE stored as a diffusers folder in F32, F16 and BF16, and as an
// original LDM / A1111 single file (first_stage_model. prefix, encoder.down.0.block.0..., attention
// q/k/v/proj_out as 1x1 convs) gives the same decoder output.
import { mkdirSync, mkdtempSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nchwToNhwc } from '../../src/gpu/tensor.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/io/dtype.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { openCheckpoint } from '../../src/io/weights.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { FIXTURES, useGpu } from '../helpers.js';
import { ldmName } from './ldm_names.js';

const gpu = useGpu();
const DIR = join(FIXTURES, 'models/tiny-vae');
const weights = readSafetensors(join(DIR, 'diffusion_pytorch_model.safetensors')).tensors;
const io = readSafetensors(join(DIR, 'io.safetensors')).tensors;

async function decodeWith(path: string): Promise<Float32Array> {
  const vae = await AutoencoderKL.load(gpu(), path);
  const lat = io.get('latent_mean')!;
  const z = gpu().upload(nchwToNhwc(lat.data as Float32Array, lat.shape), [1, 16, 16, 4]);
  const y = vae.decode(z);
  const out = await y.read();
  for (const t of [z, y]) t.release();
  vae.release();
  return out;
}

function writeFolder(convert: (d: Float32Array) => { dtype: 'F32' | 'F16' | 'BF16'; data: ArrayBufferView }, file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sdvae-ckpt-'));
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of weights) tensors[name] = { shape: t.shape, ...convert(t.data as Float32Array) };
  writeSafetensors(join(dir, file), tensors);
  copyFileSync(join(DIR, 'config.json'), join(dir, 'config.json'));
  return dir;
}

describe('checkpoint formats', () => {
  it('F16 and BF16 files load (converted once to f32) and equal an F32 file of the same values', async () => {
    for (const [to, from] of [[f32ToF16, f16ToF32], [f32ToBf16, bf16ToF32]] as const) {
      const dtype = to === f32ToF16 ? 'F16' : 'BF16';
      const half = writeFolder((d) => ({ dtype, data: to(d) }), 'diffusion_pytorch_model.fp16.safetensors');
      const same = writeFolder((d) => ({ dtype: 'F32', data: from(to(d)) }), 'diffusion_pytorch_model.safetensors');
      expect(await decodeWith(half)).toEqual(await decodeWith(same));
    }
  });

  it('an LDM / A1111 single file (first_stage_model. prefix, 1x1-conv attention) equals the diffusers folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdvae-ldm-'));
    const file = join(dir, 'vae-ft-mse-840000-ema-pruned.safetensors');
    const tensors: Record<string, TensorToWrite> = {
      'model.diffusion_model.input_blocks.0.0.weight': { dtype: 'F32', shape: [1], data: new Float32Array(1) }, // other parts of a full SD file: ignored
    };
    for (const [name, t] of weights) {
      const isAttnProj = /attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(name);
      tensors[`first_stage_model.${ldmName(name)}`] = { dtype: 'F32', shape: isAttnProj ? [...t.shape, 1, 1] : t.shape, data: t.data };
    }
    writeSafetensors(file, tensors);
    const ckpt = openCheckpoint(file);
    expect(ckpt.layout).toBe('ldm');
    expect(ckpt.names).toContain('decoder.up_blocks.0.upsamplers.0.conv.weight');
    ckpt.close();
    expect(await decodeWith(file)).toEqual(await decodeWith(DIR));
  });

  it('clear errors for a folder without weights or config', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sdvae-empty-'));
    expect(() => openCheckpoint(empty)).toThrow(/no diffusion_pytorch_model\.safetensors or diffusion_pytorch_model\.fp16\.safetensors or diffusion_pytorch_model\.bin or diffusion_pytorch_model\.fp16\.bin in this folder/);
    mkdirSync(join(empty, 'x'));
    copyFileSync(join(DIR, 'diffusion_pytorch_model.safetensors'), join(empty, 'diffusion_pytorch_model.safetensors'));
    expect(() => openCheckpoint(empty)).toThrow(/no config\.json/);
    expect(() => openCheckpoint(join(empty, 'missing'))).toThrow(/no such file or folder/);
  });
});
