// diffusers name -> original LDM name for the 2-level tiny VAE (the inverse of io/weights.ts
// ldmToDiffusers), to write LDM-layout test checkpoints.
export function ldmName(name: string): string {
  return name
    .replace(/^(encoder|decoder)\.conv_norm_out\./, '$1.norm_out.')
    .replace(/\.mid_block\.resnets\.(\d)\./, (_, k: string) => `.mid.block_${Number(k) + 1}.`)
    .replace(/\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\./, (_, k: string) => `.mid.attn_1.${{ group_norm: 'norm', to_q: 'q', to_k: 'k', to_v: 'v', 'to_out.0': 'proj_out' }[k]}.`)
    .replace(/^encoder\.down_blocks\.(\d+)\.resnets\./, 'encoder.down.$1.block.')
    .replace(/^encoder\.down_blocks\.(\d+)\.downsamplers\.0\./, 'encoder.down.$1.downsample.')
    .replace(/^decoder\.up_blocks\.(\d+)\.resnets\./, (_, i: string) => `decoder.up.${1 - Number(i)}.block.`)
    .replace(/^decoder\.up_blocks\.(\d+)\.upsamplers\.0\./, (_, i: string) => `decoder.up.${1 - Number(i)}.upsample.`)
    .replace('.conv_shortcut.', '.nin_shortcut.');
}
