// Which latents a model can decode: its latent channels, its downscale factor and its scaling factor.
// The SD 1.x/2.x VAE and the consistency decoder share "4ch-f8-scale0.18215".

/** The latent-space id of a model: decoders accept latents whose id equals theirs. */
export function latentSpaceId(channels: number, downscale: number, scalingFactor: number): string {
  return `${channels}ch-f${downscale}-scale${scalingFactor}`;
}
