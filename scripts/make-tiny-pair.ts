// Builds test/fixtures/tiny-pair/vae: a tiny 4-level SD VAE (AutoencoderKL, block_out_channels
// [32, 32, 32, 32], layers_per_block 1) whose encoder and quant_conv are the reference tiny
// consistency decoder's own, so the two models share one latent space (f = 8), like the real SD VAE
// and consistency decoder. Its decoder and post_quant_conv get random weights with the reference's
// scheme (conv: N(0,1)/sqrt(fan_in), bias 0.1·N; GroupNorm: 1 + 0.1·N, 0.1·N) from a seeded generator.
// Deterministic: rerunning it writes the same bytes. Run: npm run build && node dist/scripts/make-tiny-pair.js

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';
import { TorchGenerator } from '../src/models/torch_rng.js';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures');
const consistency = join(fixtures, 'reference/models/tiny-consistency/diffusion_pytorch_model.safetensors');
const manifest = JSON.parse(readFileSync(join(fixtures, 'reference/manifests/sd-vae-ft-mse.json'), 'utf8'));
const out = join(fixtures, 'tiny-pair', 'vae');

const tensors: Record<string, TensorToWrite> = {};
const src = SafetensorsFile.open(consistency);
for (const name of src.names())
  if (name.startsWith('encoder.') || name.startsWith('quant_conv.')) tensors[name] = { dtype: 'F32', shape: src.tensors.get(name)!.shape, data: src.readF32(name) };
src.close();

// The decoder's names and shapes: the real SD VAE's, with every width 32 and one resnet fewer per block.
const g = new TorchGenerator(2024);
const shrink = (d: number) => ([128, 256, 512].includes(d) ? 32 : d);
for (const { key, shape } of manifest.keys as { key: string; shape: number[] }[]) {
  if (!(key.startsWith('decoder.') || key.startsWith('post_quant_conv.'))) continue;
  if (key.includes('.resnets.2.') || key.includes('conv_shortcut')) continue;
  const s = shape.map(shrink);
  const n = s.reduce((a, b) => a * b, 1);
  const noise = g.randn([n]);
  const isNorm = /norm/.test(key);
  const fanIn = s.length > 1 ? s.slice(1).reduce((a, b) => a * b, 1) : 1;
  const data = noise.map((v) => (isNorm ? (key.endsWith('weight') ? 1 + 0.1 * v : 0.1 * v) : key.endsWith('bias') ? 0.1 * v : v / Math.sqrt(fanIn)));
  tensors[key] = { dtype: 'F32', shape: s, data };
}

mkdirSync(out, { recursive: true });
writeSafetensors(join(out, 'diffusion_pytorch_model.safetensors'), tensors, { format: 'pt' });
const config = {
  _class_name: 'AutoencoderKL',
  block_out_channels: [32, 32, 32, 32],
  down_block_types: Array(4).fill('DownEncoderBlock2D'),
  up_block_types: Array(4).fill('UpDecoderBlock2D'),
  in_channels: 3,
  out_channels: 3,
  latent_channels: 4,
  layers_per_block: 1,
  norm_num_groups: 32,
  scaling_factor: 0.18215,
  act_fn: 'silu',
};
writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
console.log(`wrote ${out} (${Object.keys(tensors).length} tensors)`);
