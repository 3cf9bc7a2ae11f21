// ConsistencyDecoderVAE's fixed latent statistics (non-persistent buffers `means`/`stds`, not in the
// checkpoint) and the SD scaling factor it applies before them:  z' = (z · 0.18215 − means) / stds.
// Values as float32, from diffusers 0.27.2 autoencoders/consistency_decoder_vae.py.
export const CONSISTENCY_LATENT = {
  scalingFactor: 0.18215,
  means: [0.38862467, 0.02253063, 0.07381133, -0.0171294],
  stds: [0.9654121, 1.0440036, 0.76147926, 0.77022034],
};
