// The browser-safe part of the API: nothing here imports Node modules (fs, the `webgpu` package), so a
// bundler can take it into a page that brings its own GPUDevice (`Gpu.fromDevice`) or navigator.gpu
// (`Gpu.create`). Loading checkpoints from files (`AutoencoderKL.load`, `ConsistencyDecoder.load`)
// needs Node; in a browser build a model with a ParamLoader over your own tensors
// (`new AutoencoderKL(gpu, ParamLoader.fromMap(...), config)`).

export { Gpu, type GpuOptions, type GpuFeatures } from './gpu/gpu.js';
export { BufferPool, type PoolStats } from './gpu/pool.js';
export { Tensor, nchwToNhwc, nhwcToNchw } from './gpu/tensor.js';
export type { OpTiming } from './gpu/profile.js';

export { AutoencoderKL, parseAutoencoderKLConfig, type AutoencoderKLConfig, type LatentDistribution } from './models/autoencoder_kl.js';
export { ConsistencyDecoder, parseConsistencyConfig, timestepsForSteps, openaiTimestep, type ConsistencyDecodeOptions, type ConsistencyDecoderConfig } from './models/consistency_decoder.js';
export { AutoencoderTiny, EncoderTiny, DecoderTiny, AutoencoderTinyBlock, parseAutoencoderTinyConfig, type AutoencoderTinyConfig } from './models/autoencoder_tiny.js';
export { ParamLoader, f32Entry, type ParamSource, type ParamEntry, type ParamDType, type ModelSource, type LoadOptions } from './models/params.js';
export { consistencySchedule, type ConsistencySchedule } from './models/schedule.js';
export { TorchGenerator } from './models/torch_rng.js';
export { tiledDecode, type TiledDecodeOptions } from './models/tiled_decode.js';
export type { RunContext } from './models/context.js';
export { convPolicy } from './kernels/conv2d.js';
export { tuning, localStorageStore, memoryStore, lookupConv, seenConvShapes, missingConvShapes, convShapeKey, adapterKey, resetTuning, type TuneMode, type TuneStore, type TuneRecord, type ConvShape, type ShippedTable } from './gpu/tune.js';
export { tuneConvShapes, measureConv, type ConvTimer, type TuneRow } from './gpu/tune_measure.js';

export { toTensorData, fromTensorData, centerCrop, resize, type RgbImage } from './io/image.js';
export { psnr } from './metrics/psnr.js';
export { ssimRgb, ssimLuma } from './metrics/ssim.js';
export { latentSpaceId } from './io/latent_space.js';
