// The public API for Node: everything in core.ts (browser-safe), plus what reads and writes files.
// In a browser, import 'sdvae-webgpu/core' instead.

export * from './core.js';

export { readPng, writePng } from './io/png.js';
export { readLatentFile, writeLatentFile, roundTrip, latentBytes, type StoredLatent, type LatentPrecision, type LatentMeta } from './io/latents.js';
export { SafetensorsFile, readSafetensors, writeSafetensors, encodeSafetensors, SafetensorsError } from './io/safetensors.js';
export { openCheckpoint, type Checkpoint } from './io/weights.js';
export { fileTuneStore, defaultTuneFilePath } from './io/tune_file.js';

export { runKernelCase, type KernelCaseResult, type CaseFile } from './check/kernel_case.js';
export { runModelCases, firstDivergence, type TensorCheck, type CaseRunner, type IoCase } from './check/model_case.js';
export { vaeRunner } from './check/vae_runner.js';
export { consistencyRunner } from './check/consistency_runner.js';

export { loadModel, encodeImage, decodeLatent, prepareImage, preparedSize, latentMeta, type LoadedModel, type PrepareOptions, type EncodeOptions } from './pipeline.js';
export { loadTaesd, decodeLatentTaesd, type LoadedTaesd } from './pipeline.js';
export { resolveTaesdPath } from './io/taesd_path.js';
export { taesdRunner } from './check/taesd_runner.js';
