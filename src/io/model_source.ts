// A model from anywhere bytes come from: a base URL (a Hugging Face `resolve/main/` folder or any static
// server: `config.json` + `diffusion_pytorch_model.safetensors`), local files (a browser's File
// objects), or any ByteSource. The browser's counterpart of io/weights.ts (which reads Node folders
// and also renames the original LDM single-file layout; here the diffusers layout is expected).
//
// Loading reads tensors in file order (so a server without Range support streams the file once),
// reports bytes fetched of the total after each tensor, and builds the model through the same
// ParamLoader checks as Node (every missing, unexpected and wrong-shape tensor listed at once).
// No Node imports: part of the browser build.

import type { Gpu } from '../gpu/gpu.js';
import { AutoencoderKL, inferAutoencoderKLConfig, parseAutoencoderKLConfig } from '../models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../models/consistency_decoder.js';
import { ParamLoader, type ParamEntry, type ParamSource } from '../models/params.js';
import { blobSource, type ByteSource, type ProgressCallback } from './byte_source.js';
import { openHttpSource, type HttpSourceOptions } from './http_source.js';
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

export interface LoadOptions {
  onProgress?: ProgressCallback;
}

export async function loadAutoencoderKLFrom(gpu: Gpu, files: ModelFiles, opts: LoadOptions = {}): Promise<AutoencoderKL> {
  return buildFrom(files, opts, (p, source) => {
    const raw = Object.keys(files.config).length ? files.config : inferAutoencoderKLConfig(files.weights.names(), source);
    return new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(raw, `${files.name} config`));
  }, gpu);
}

export async function loadConsistencyDecoderFrom(gpu: Gpu, files: ModelFiles, opts: LoadOptions = {}): Promise<ConsistencyDecoder> {
  return buildFrom(files, opts, (p) => new ConsistencyDecoder(gpu, p, parseConsistencyConfig(files.config, `${files.name} config`)), gpu);
}

/**
 * Fetches every tensor (file order), then builds the model from them. The tensors are held until the
 * model's constructor has uploaded them: an asynchronous loader that uploads each tensor as it arrives
 * will replace this step once model construction can await `ParamEntry.bytes()`.
 */
async function buildFrom<M extends { release(): void }>(files: ModelFiles, opts: LoadOptions, build: (p: ParamLoader, source: ParamSource) => M, gpu: Gpu): Promise<M> {
  const w = files.weights;
  const infos = [...w.tensors.values()].sort((a, b) => a.begin - b.begin);
  const total = w.dataBytes;
  const fetched = new Map<string, Uint8Array>();
  const lazy = w.paramSource();
  let loaded = 0;
  for (const info of infos) {
    const bytes = await lazy(info.name)!.bytes();
    fetched.set(info.name, bytes);
    loaded += info.end - info.begin;
    opts.onProgress?.({ name: w.name, loaded, total, cached: w.source.fromCache ?? 0 });
  }
  const source: ParamSource = (name) => {
    const e = lazy(name);
    const bytes = fetched.get(name);
    if (!e || !bytes) return undefined;
    const entry: ParamEntry = { shape: e.shape, dtype: e.dtype, bytes: () => bytes };
    return entry;
  };
  const p = ParamLoader.from(source, w.names(), w.name);
  const model = build(p, source);
  try {
    p.finish();
    await gpu.sync();
  } catch (e) {
    model.release();
    throw e;
  }
  return model;
}
