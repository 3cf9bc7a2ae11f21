// Which dtype a model stores its activations in, and when f16 is allowed.
//
// `model.setActivations('f16')` switches a loaded AutoencoderKL or ConsistencyDecoder to f16
// activation storage (kernels/activation.ts: storage f16, arithmetic, accumulators and group-norm
// statistics f32). Inputs arrive as f32 and are cast at the model's first op; outputs are cast back,
// so decode/encode still return f32 tensors. What stays f32: the latent distribution (mean, logvar,
// std), the consistency sampler's state and scheduler arithmetic, the UNet's time embedding and its
// scale/shift, attention scores and softmax.
//
// f16 is refused:
//   - on adapters without `shader-f16` (the error says so; f32 always works);
//   - for configs that say `force_upcast: true` (diffusers' own flag for VAEs that overflow f16, the
//     SDXL VAE's case: guides/precision-and-limits.md §4.1), unless `{ force: true }` is given.

import type { Gpu } from '../gpu/gpu.js';
import { requireShaderF16, type ActivationDType } from '../kernels/activation.js';

export interface ActivationOptions {
  /** Allow f16 although the config says `force_upcast: true` (you accept the overflow risk). */
  force?: boolean;
}

/** Checks that `dtype` may be used for a model of this config; returns it. */
export function checkActivations(gpu: Gpu, dtype: ActivationDType, forceUpcast: boolean, model: string, opts: ActivationOptions = {}): ActivationDType {
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`${model}: activations must be 'f32' or 'f16', got ${JSON.stringify(dtype)}`);
  if (dtype === 'f32') return dtype;
  requireShaderF16(gpu, model);
  if (forceUpcast && !opts.force)
    throw new Error(
      `${model}: its config says force_upcast: true (diffusers runs this VAE in f32 because its activations can overflow f16), so f16 activations are off; pass { force: true } to use them anyway`,
    );
  return dtype;
}
