// The tolerances every test judges by, in one place. They come from the reference README's float64
// study (test/fixtures/reference/README.md, "Float32 error and recommended tolerances"):
// atol = max(1e-5, 10 x torch's own float32 error). Reference case files carry their own `atol`
// (the same rule, per case); these are for tests on shapes and models the files do not cover.
export const TOL = {
  /** Kernels with |values| <~ 5: torch's own error 0.1-3.4e-6, so 1e-5 to 4e-5. */
  kernel: 4e-5,
  /** tiny-vae decoded image and latents. */
  vaeOutput: 1e-4,
  /** tiny-vae intermediates (taps). */
  vaeIntermediate: 2e-4,
  /** tiny-consistency decoded image and UNet outputs. */
  consistency: 5e-5,
  /**
   * Winograd U stored as f16: the GPU's max error over a case may exceed the float64 study's (U rounded
   * to f16 to nearest, everything else exact; test/kernels/winograd_weights.test.ts) by this factor:
   * a storage-texture write may convert f32 to f16 toward zero (Vulkan allows either rounding), which
   * doubles the per-element error the study assumes. Measured GPU/study ratios on lavapipe: 0.9-1.9.
   */
  u16Study: 2.5,
  /**
   * f16 activations, one kernel (test/kernels/f16_activations.test.ts): an f16 kernel's output may
   * differ from its f32 variant's on the same (f16-representable) inputs by this many half-ulps of
   * f16 (2^-11 relative, + 2^-24 absolute for subnormals): 1 for round-to-nearest, 2 because WGSL
   * lets an f32 -> f16 conversion round to either neighbour.
   */
  f16Store: 2,
  /**
   * f16 activations, whole models (test/models/f16_activations.test.ts): every output and tap of both
   * tiny io files within f16Model · 2^-11 · max|reference| of the reference. From the rounding study
   * (`npm run bench:f16-study`, src/check/f16_study.ts: a run with f16 activations is every stored
   * activation rounded to f16, each kernel checked to round once): the largest amplification
   * max|err| / (2^-11 · max|ref|) measured on lavapipe is 3.95 for tiny-vae (decoder.up_blocks.1) and
   * 4.11 for tiny-consistency (the 1-step OpenAI image); typical outputs 2.5-3.7. Tolerance = 2 (WGSL
   * may round f32 -> f16 to either neighbour: up to twice the per-store error of round-to-nearest)
   * x 2 (other inputs and adapters) x 4.11 (the largest measured amplification) = 16.4, rounded to 16.
   * The reference's own f32 error (1e-6..1e-4, README) is 100x below these, so it is not added.
   */
  f16Model: 16,
  /**
   * A conv or GEMM on random inputs and weights in [-1, 1) against a float64 loop, per sqrt(K) (K = the
   * terms each output sums): float32 sums of K terms of size ~1 drift like a random walk of ulps of
   * partial sums up to ~sqrt(K), so the bound scales with sqrt(K). 2e-5 is the factor
   * test/kernels/conv2d_variants.test.ts has used for the direct kernels since they were written.
   */
  convRandomPerSqrtK: 2e-5,
  /**
   * matmul on random inputs in [-1, 1) against a float64 loop, relative to max(1, max |reference|): f32
   * accumulation of K <= 1024 products of that size errs by well under 1e-5 of the output's scale (the
   * bound test/kernels/matmul.test.ts has used since the matmul kernels were written).
   */
  matmulRelative: 1e-5,
  /** nearest upsample, concat: pure copies. */
  exact: 0,
  /**
   * The same model run on two adapters (the page in Chromium vs the CLI on lavapipe): the kernels differ
   * (tiled direct convs there, Winograd and subgroup GEMMs here), each within vaeOutput/consistency of
   * diffusers, so outputs in [-1, 1] differ by < 3e-4, i.e. < 0.04 of an 8-bit level: rounding to 8 bits
   * can flip a pixel by 1 level, never more; PSNR then moves by far less than 0.05 dB.
   */
  crossAdapterPixelLevels: 1,
  crossAdapterPsnrDb: 0.05,
  /** Latents (scaled by 0.18215, stored fp32) from two adapters: 2 x vaeOutput. */
  crossAdapterLatent: 2e-4,
  /**
   * tanh(x/3)*3 (TAESD's latent clamp) vs float64 Math.tanh: outputs in (-3, 3), so a few float32 ulps
   * of 3 (2.4e-7 each) from exp and the (1 - e) / (1 + e) form: 2e-6. ReLU and x*s+t are exact.
   */
  tanhClamp: 2e-6,
  /**
   * The tiled consistency decode against the untiled one (tiny-consistency, gt1.png encoded at 96x96,
   * seed 0, 2 steps; test/models/tiled_consistency.test.ts). APPROXIMATE by design, and not a float
   * rounding bound: the difference is the algorithm's (each tile's own GroupNorm statistics and zero
   * padding at its inner edges), the same on any adapter to ~1e-6. Measured on lavapipe, 2026-12-01
   * (docs/models.md, "Tiled consistency decode"): tiles of 8 latent px overlapping by 2: 37.65 dB PSNR
   * (8-bit) and max |diff| 0.146; tiles of 6 overlapping by 2: 33.75 dB and 0.245. The bounds take the
   * worse of the two with a margin: 30 dB (2.4x its squared error) and 0.35 (1.4x). Two seeds of the
   * untiled decode differ by 13.2 dB: tiling must move the image at least 15 dB less than a new seed
   * does (measured: 20.6 dB less).
   */
  tiledConsistency: { minPsnr: 30, maxAbs: 0.35, psnrAboveOtherSeed: 15 },
};
