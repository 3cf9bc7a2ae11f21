// The consistency decoder's noise schedule (diffusers ConsistencyDecoderScheduler, OpenAI's
// consistency decoder): 1024 steps of the cosine alpha-bar, and the consistency-model coefficients
// with sigma_data = 0.5.
//
//   alpha_bar(t) = cos²((t + 0.008) / 1.008 · π/2)
//   beta_i       = min(1 − alpha_bar((i+1)/1024) / alpha_bar(i/1024), 0.999)     (float64, stored as float32)
//   ᾱ_i          = Π_{j≤i} (1 − beta_j)                                          (float32 tensor math)
//   σ = √(1/ᾱ − 1),  c_skip = √(1/ᾱ)·σ_d² / (σ² + σ_d²),  c_out = σ·σ_d / √(σ² + σ_d²),  c_in = √(1/ᾱ) / √(σ² + σ_d²)
//
// diffusers computes everything after the betas with float32 tensors; Math.fround reproduces each
// float32 rounding in the same order, so these tables equal diffusers' bit for bit (tested against
// the reference schedule.safetensors).

const f = Math.fround;

export interface ConsistencySchedule {
  betas: Float32Array;
  alphasCumprod: Float32Array;
  sqrtAlphasCumprod: Float32Array;
  sqrtOneMinusAlphasCumprod: Float32Array;
  cSkip: Float32Array;
  cOut: Float32Array;
  cIn: Float32Array;
}

export const NUM_TRAIN_TIMESTEPS = 1024;
export const SIGMA_DATA = 0.5;

export function consistencySchedule(n = NUM_TRAIN_TIMESTEPS, sigmaData = SIGMA_DATA): ConsistencySchedule {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float32Array(n);
  for (let i = 0; i < n; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
  const alphasCumprod = new Float32Array(n);
  // torch.cumprod on the CPU accumulates float32 inputs in double and rounds each output.
  let acc = 1;
  for (let i = 0; i < n; i++) {
    acc *= f(1 - betas[i]);
    alphasCumprod[i] = acc;
  }
  const sd2 = f(sigmaData * sigmaData);
  const map = (fn: (a: number) => number) => Float32Array.from(alphasCumprod, fn);
  const sigma = (a: number) => f(Math.sqrt(f(f(1 / a) - 1)));
  const sqrtRecip = (a: number) => f(Math.sqrt(f(1 / a)));
  const denom = (a: number) => f(f(sigma(a) * sigma(a)) + sd2);
  return {
    betas,
    alphasCumprod,
    sqrtAlphasCumprod: map((a) => f(Math.sqrt(a))),
    sqrtOneMinusAlphasCumprod: map((a) => f(Math.sqrt(f(1 - a)))),
    cSkip: map((a) => f(f(sqrtRecip(a) * sd2) / denom(a))),
    cOut: map((a) => f(f(sigma(a) * sigmaData) / f(Math.sqrt(denom(a))))),
    cIn: map((a) => f(sqrtRecip(a) / f(Math.sqrt(denom(a))))),
  };
}
