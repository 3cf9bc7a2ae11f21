// The public API. The core (GPU runtime, kernels, models) takes a GPUDevice and runs in any WebGPU
// host; loading files (checkpoints, PNGs, latents) is Node-only and lives in the io modules.

export { Gpu, type GpuOptions, type GpuFeatures } from './gpu/gpu.js';
export { Tensor, nchwToNhwc, nhwcToNchw } from './gpu/tensor.js';
export type { OpTiming } from './gpu/profile.js';

export { AutoencoderKL, type AutoencoderKLConfig, type LatentDistribution } from './models/autoencoder_kl.js';
export { ConsistencyDecoder, timestepsForSteps, openaiTimestep, type ConsistencyDecodeOptions } from './models/consistency_decoder.js';
export { consistencySchedule, type ConsistencySchedule } from './models/schedule.js';
export { TorchGenerator } from './models/torch_rng.js';
export { tiledDecode, type TiledDecodeOptions } from './models/tiled_decode.js';
export type { RunContext } from './models/context.js';

export { readPng, writePng } from './io/png.js';
export { toTensorData, fromTensorData, centerCrop, resize, type RgbImage } from './io/image.js';
export { readLatentFile, writeLatentFile, type StoredLatent, type LatentPrecision } from './io/latents.js';
export { SafetensorsFile, readSafetensors, writeSafetensors, encodeSafetensors, SafetensorsError } from './io/safetensors.js';

export { psnr } from './metrics/psnr.js';
export { ssimRgb, ssimLuma } from './metrics/ssim.js';

export { runKernelCase, type KernelCaseResult } from './check/kernel_case.js';
export { runModelCases, firstDivergence, type TensorCheck } from './check/model_case.js';
export { vaeRunner } from './check/vae_runner.js';
export { consistencyRunner } from './check/consistency_runner.js';

export { loadModel, encodeImage, decodeLatent, prepareImage } from './pipeline.js';
