// The SD VAE decoding path (diffusers 0.27.2 AutoencoderKL.decode: post_quant_conv, then
// Decoder: conv_in, mid_block, up_blocks, conv_norm_out + SiLU, conv_out) as an ONNX model, from the
// same config and tensor names as src/models/autoencoder_kl.ts, so ONNX Runtime can run the very
// weights this project runs (bench/ort.ts) and be checked against diffusers (test/bench/onnx_vae.test.ts).
// Layout NCHW (PyTorch's): input `latent` [N, L, h, w] (unscaled), output `image` [N, 3, 8h, 8w] for SD.
// Module by module it follows src/models/{resnet,attention,vae_blocks}.ts; see their headers for the math.

import type { AutoencoderKLConfig } from '../../src/models/autoencoder_kl.js';
import { GraphBuilder, type WeightGetter } from './graph.js';

/** diffusers' AutoencoderKL norms (resnets, attention, conv_norm_out) all use this eps. */
const VAE_EPS = 1e-6;

/** ResnetBlock2D ("default" time embedding: none): silu(norm1) -> conv1 -> silu(norm2) -> conv2, + shortcut. */
function resnet(g: GraphBuilder, prefix: string, x: string, cin: number, cout: number, groups: number): string {
  let h = g.silu(g.groupNorm(`${prefix}.norm1`, x, cin, groups, VAE_EPS), `${prefix}.silu1`);
  h = g.conv(`${prefix}.conv1`, h, cin, cout, 3);
  h = g.silu(g.groupNorm(`${prefix}.norm2`, h, cout, groups, VAE_EPS), `${prefix}.silu2`);
  h = g.conv(`${prefix}.conv2`, h, cout, cout, 3);
  const shortcut = cin === cout ? x : g.conv(`${prefix}.conv_shortcut`, x, cin, cout, 1);
  return g.op('Add', [shortcut, h], `${prefix}.add`);
}

/**
 * The mid-block's single-head self-attention (AttnProcessor): tokens t = group_norm(x) as [N, HW, C],
 * softmax(q·kᵀ/√C)·v through to_out.0, plus x (rescale_output_factor 1).
 */
function attention(g: GraphBuilder, prefix: string, x: string, channels: number, groups: number): string {
  const normed = g.groupNorm(`${prefix}.group_norm`, x, channels, groups, VAE_EPS);
  const flat = g.op('Reshape', [normed, g.constant([0, channels, -1], 'int64')], `${prefix}.flatten`); // [N, C, HW]
  const tokens = g.op('Transpose', [flat], `${prefix}.tokens`, { perm: [0, 2, 1] }); // [N, HW, C]
  const [q, k, v] = ['to_q', 'to_k', 'to_v'].map((n) => g.linear(`${prefix}.${n}`, tokens, channels, channels));
  const kT = g.op('Transpose', [k], `${prefix}.k_t`, { perm: [0, 2, 1] });
  const scores = g.op('Mul', [g.op('MatMul', [q, kT], `${prefix}.q_kt`), g.constant([1 / Math.sqrt(channels)], 'float', [])], `${prefix}.scores`);
  const probs = g.op('Softmax', [scores], `${prefix}.softmax`, { axis: -1 });
  const attended = g.op('MatMul', [probs, v], `${prefix}.probs_v`);
  const projected = g.linear(`${prefix}.to_out.0`, attended, channels, channels);
  const channelsFirst = g.op('Transpose', [projected], `${prefix}.channels_first`, { perm: [0, 2, 1] });
  const image = g.op('Reshape', [channelsFirst, g.op('Shape', [x], `${prefix}.shape`)], `${prefix}.unflatten`);
  return g.op('Add', [image, x], `${prefix}.residual`);
}

/** The ONNX model file of `AutoencoderKL.decode` for `cfg`, with weights from `weights` (checkpoint names). */
export function autoencoderKLDecoderOnnx(cfg: AutoencoderKLConfig, weights: WeightGetter): Uint8Array {
  const g = new GraphBuilder(weights);
  const L = cfg.latent_channels;
  const groups = cfg.norm_num_groups;
  const rev = [...cfg.block_out_channels].reverse();
  let h = g.conv('post_quant_conv', 'latent', L, L, 1);
  h = g.conv('decoder.conv_in', h, L, rev[0], 3);
  h = resnet(g, 'decoder.mid_block.resnets.0', h, rev[0], rev[0], groups);
  h = attention(g, 'decoder.mid_block.attentions.0', h, rev[0], groups);
  h = resnet(g, 'decoder.mid_block.resnets.1', h, rev[0], rev[0], groups);
  rev.forEach((out, i) => {
    const block = `decoder.up_blocks.${i}`;
    for (let r = 0; r <= cfg.layers_per_block; r++) h = resnet(g, `${block}.resnets.${r}`, h, r === 0 ? (i ? rev[i - 1] : rev[0]) : out, out, groups);
    if (i < rev.length - 1) h = g.conv(`${block}.upsamplers.0.conv`, g.upsampleNearest2x(h, `${block}.upsamplers.0.interpolate`), out, out, 3);
  });
  const last = rev[rev.length - 1];
  h = g.silu(g.groupNorm('decoder.conv_norm_out', h, last, groups, VAE_EPS), 'decoder.conv_act');
  h = g.conv('decoder.conv_out', h, last, cfg.out_channels, 3);
  return g.encode({ name: 'latent', channels: L }, { name: 'image', channels: cfg.out_channels, value: h }, 'AutoencoderKL.decode');
}
