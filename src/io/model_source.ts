// A model from anywhere bytes come from: a base URL (a Hugging Face `resolve/main/` folder or any static
// server: `config.json` + `diffusion_pytorch_model.safetensors`), local files (a browser's File
// objects), or any ByteSource. The browser's counterpart of io/weights.ts (which reads Node folders
// and also renames the original LDM single-file layout; here the diffusers layout is expected).
//
// Loading goes through the models' `fromSource` (src/models/params.ts loadFromSource): each tensor is
// fetched when the model's loader reaches it and uploaded as it arrives, progress (bytes fetched of
// the total) is reported after each, and every missing, unexpected or wrong-shape tensor is listed.
// No Node imports: part of the browser build.

import type { Gpu } from '../gpu/gpu.js';
import type { WeightStorage } from '../kernels/weight_format.js';
import { AutoencoderKL } from '../models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../models/consistency_decoder.js';
import { AutoencoderTiny } from '../models/autoencoder_tiny.js';
import type { BeforeRead, LoadOptions, ModelSource } from '../models/params.js';
import { blobSource, type ByteSource, type ProgressCallback } from './byte_source.js';
import { openHttpSource, type HttpSource, type HttpSourceOptions } from './http_source.js';
import { SafetensorsSource } from './safetensors_source.js';

export interface ModelFiles {
  /** Where it came from (base URL or file names), for messages. */
  name: string;
  /** config.json ({} when none was given: the SD VAE's config is then inferred from the tensors). */
  config: Record<string, unknown>;
  weights: SafetensorsSource;
}

export const WEIGHTS_FILE = 'diffusion_pytorch_model.safetensors';

/** `base` is a folder URL; `weightsFile` defaults to diffusers' fp32 file name. */
export async function openModelUrl(base: string, opts: HttpSourceOptions & { weightsFile?: string } = {}): Promise<ModelFiles> {
  const folder = base.endsWith('/') ? base : `${base}/`;
  const configUrl = `${folder}config.json`;
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  let res: Response;
  try {
    res = await doFetch(configUrl);
  } catch (e) {
    throw new Error(`${configUrl}: the request failed (${(e as Error).message}): is the server running and the URL right?`);
  }
  if (!res.ok) throw new Error(`${configUrl}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} (is ${folder} a model folder?)`);
  const config = parseConfigText(await res.text(), configUrl);
  const weights = await SafetensorsSource.open(await openHttpSource(folder + (opts.weightsFile ?? WEIGHTS_FILE), opts));
  return { name: folder, config, weights };
}

/** Local files (e.g. from an <input type=file multiple> or a drop): one .safetensors, optionally config.json. */
export async function openModelFiles(files: ArrayLike<File>): Promise<ModelFiles> {
  const list = Array.from(files);
  const tensors = list.filter((f) => f.name.endsWith('.safetensors'));
  if (tensors.length !== 1) throw new Error(`choose one .safetensors weights file (and its config.json); got ${list.map((f) => f.name).join(', ') || 'no files'}`);
  const configFile = list.find((f) => f.name === 'config.json');
  const config = configFile ? parseConfigText(await configFile.text(), configFile.name) : {};
  return openModelSource(tensors[0]!.name, blobSource(tensors[0]!), config);
}

export async function openModelSource(name: string, weights: ByteSource, config: Record<string, unknown>): Promise<ModelFiles> {
  return { name, config, weights: await SafetensorsSource.open(weights) };
}

function parseConfigText(text: string, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export interface SourceLoadOptions {
  /** How weights are kept on the GPU (default 'as-stored': F16 and BF16 stay 16-bit). */
  storage?: WeightStorage;
  /** Bytes fetched of the total, after each tensor. */
  onProgress?: ProgressCallback;
}

/** `beforeRead`: called with the built model before its weights are read, e.g. its prepareDecode (the plan and its pipeline compiles then overlap the download). */
export async function loadAutoencoderKLFrom(gpu: Gpu, files: ModelFiles, opts: SourceLoadOptions = {}, beforeRead?: BeforeRead<AutoencoderKL>): Promise<AutoencoderKL> {
  return AutoencoderKL.fromSource(gpu, await modelSource(files), loaderOptions(files, opts), beforeRead);
}

export async function loadConsistencyDecoderFrom(gpu: Gpu, files: ModelFiles, opts: SourceLoadOptions = {}, beforeRead?: BeforeRead<ConsistencyDecoder>): Promise<ConsistencyDecoder> {
  return ConsistencyDecoder.fromSource(gpu, await modelSource(files), loaderOptions(files, opts), beforeRead);
}

/** TAESD (AutoencoderTiny), the fast preview decoder. */
export async function loadAutoencoderTinyFrom(gpu: Gpu, files: ModelFiles, opts: SourceLoadOptions = {}): Promise<AutoencoderTiny> {
  return AutoencoderTiny.fromSource(gpu, await modelSource(files), loaderOptions(files, opts));
}

/**
 * The model's tensors as a ModelSource. Each entry's `bytes()` is one read of the byte source, made
 * when the model's loader reaches that tensor, and the tensor is uploaded as it arrives. A server
 * without Range support and no cache gives a stream that can only be read front to back; then the
 * tensors are read in file order first and held until the model takes them (the file's size in
 * memory, as one buffer per tensor).
 */
export async function modelSource(files: ModelFiles): Promise<ModelSource> {
  const w = files.weights;
  let source = w.paramSource();
  if ((w.source as Partial<HttpSource>).mode === 'stream') {
    const held = new Map<string, Uint8Array>();
    for (const info of [...w.tensors.values()].sort((a, b) => a.begin - b.begin)) held.set(info.name, await source(info.name)!.bytes());
    const lazy = source;
    source = (name) => {
      const e = lazy(name);
      const bytes = held.get(name);
      return e && bytes ? { shape: e.shape, dtype: e.dtype, bytes: () => bytes } : undefined;
    };
  }
  return { what: w.name, config: files.config, configFile: `${files.name} config.json`, names: w.names(), source };
}

function loaderOptions(files: ModelFiles, opts: SourceLoadOptions): LoadOptions {
  const w = files.weights;
  const total = w.dataBytes;
  const onProgress = opts.onProgress;
  return {
    storage: opts.storage,
    onProgress: onProgress && ((loaded: number) => onProgress({ name: w.name, loaded, total, cached: w.source.fromCache ?? 0 })),
  };
}
