// The browser-safe part of the API: nothing here imports Node modules (fs, the `webgpu` package), so a
// bundler can take it into a page that brings its own GPUDevice (`Gpu.fromDevice`) or navigator.gpu
// (`Gpu.create`, `Gpu.fromAdapter`); `npm run build:web` bundles this file as dist/web/sdvae.js.
// `AutoencoderKL.load` and `ConsistencyDecoder.load` read checkpoint folders and need Node; in a page,
// load models from URLs, local files or any byte source (`openModelUrl`, `openModelFiles`,
// `loadAutoencoderKLFrom`, `loadConsistencyDecoderFrom`: docs/browser.md).

export { Gpu, MemoryBudgetError, GpuOutOfMemoryError, type GpuOptions, type GpuFeatures } from './gpu/gpu.js';
export { BufferPool, type PoolStats } from './gpu/pool.js';
export { Tensor, nchwToNhwc, nhwcToNchw } from './gpu/tensor.js';
export type { OpTiming } from './gpu/profile.js';

export { AutoencoderKL, parseAutoencoderKLConfig, type AutoencoderKLConfig, type LatentDistribution } from './models/autoencoder_kl.js';
export { ConsistencyDecoder, parseConsistencyConfig, timestepsForSteps, openaiTimestep, type ConsistencyDecodeOptions, type ConsistencyDecoderConfig } from './models/consistency_decoder.js';
export { AutoencoderTiny, EncoderTiny, DecoderTiny, AutoencoderTinyBlock, parseAutoencoderTinyConfig, type AutoencoderTinyConfig } from './models/autoencoder_tiny.js';
export { ParamLoader, f32Entry, type ParamSource, type ParamEntry, type ParamDType, type ModelSource, type LoadOptions, type BeforeRead } from './models/params.js';
export { consistencySchedule, type ConsistencySchedule } from './models/schedule.js';
export { TorchGenerator } from './models/torch_rng.js';
export { tiledDecode, type TiledDecodeOptions } from './models/tiled_decode.js';
export { tiledConsistencyDecode, planTiles, TILED_CONSISTENCY_DEFAULT_TILE, type TiledConsistencyOptions, type Tile } from './models/tiled_consistency.js';
export type { RunContext } from './models/context.js';
export { convPolicy } from './kernels/conv2d.js';
export { tuning, localStorageStore, memoryStore, lookupConv, seenConvShapes, missingConvShapes, convShapeKey, adapterKey, resetTuning, type TuneMode, type TuneStore, type TuneRecord, type ConvShape, type ShippedTable } from './gpu/tune.js';
export { tuneConvShapes, measureConv, type ConvTimer, type TuneRow } from './gpu/tune_measure.js';
export { winogradPolicy } from './kernels/winograd.weights.js';
export { cast, type ActivationDType } from './kernels/activation.js';
export type { ActivationOptions } from './models/activations.js';

export { toTensorData, fromTensorData, centerCrop, resize, type RgbImage } from './io/image.js';
export { psnr } from './metrics/psnr.js';
export { ssimRgb, ssimLuma } from './metrics/ssim.js';
export { latentSpaceId } from './io/latent_space.js';

// Bytes from anywhere (files, HTTP ranges, browser Files) and models loaded from them (docs/browser.md).
export { blobSource, bytesSource, trackProgress, type ByteSource, type LoadProgress, type ProgressCallback } from './io/byte_source.js';
export { openHttpSource, rangeKey, type HttpSource, type HttpSourceOptions, type ResponseCache } from './io/http_source.js';
export { SafetensorsSource } from './io/safetensors_source.js';
export { SafetensorsError, encodeSafetensors, parseHeader, type TensorInfo, type LoadedTensor, type TensorToWrite } from './io/safetensors_format.js';
export { openModelUrl, openModelFiles, openModelSource, loadAutoencoderKLFrom, loadConsistencyDecoderFrom, loadAutoencoderTinyFrom, modelSource, WEIGHTS_FILE, type ModelFiles, type SourceLoadOptions } from './io/model_source.js';
// The reference checks (sdvae check) run in a page too.
export { runKernelCase, type KernelCaseResult, type CaseFile } from './check/kernel_case.js';
export { runModelCases, firstDivergence, type TensorCheck } from './check/model_case.js';
export { vaeRunner } from './check/vae_runner.js';
export { consistencyRunner } from './check/consistency_runner.js';
// What the page does with them: the CLI's encode/decode steps, stored latents, the comparison, the inspector.
export { encodeImage, decodeLatent, decodeLatentTaesd, prepareImage, preparedSize, latentMeta, type LoadedModel, type LoadedTaesd, type PrepareOptions, type EncodeOptions } from './pipeline.js';
export { encodeLatentFile, latentFromTensors, latentBytes, roundTrip, type StoredLatent, type LatentPrecision, type LatentMeta } from './io/latents_format.js';
export { measure, mostDifferentWindow, comparisonFigure, type DecoderResult, type DecoderReport } from './compare.js';
export { inspectModel, moduleClass, type ModuleRow } from './inspect.js';
export { createImage, sideBySide, crop, upscaleNearest } from './io/image.js';
