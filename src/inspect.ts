// Inspection, like torchinfo: one row per module of a real forward pass (the SD VAE, the consistency
// decoder or TAESD), in execution order, with its diffusers path, class, output shape (PyTorch's NCHW),
// parameter count, FLOPs (multiply-adds x 2 of its convolutions and matmuls), GPU time (timestamp queries, where the adapter has them) and the
// statistics of its output. Module outputs come from the activation taps (see models/context.ts).

import type { Gpu } from './gpu/gpu.js';
import type { Tensor } from './gpu/tensor.js';
import { toTensorData, type RgbImage } from './io/image.js';
import type { AutoencoderKL } from './models/autoencoder_kl.js';
import { AutoencoderTinyBlock, type AutoencoderTiny } from './models/autoencoder_tiny.js';
import type { ConsistencyDecoder } from './models/consistency_decoder.js';
import type { LoadedModel, LoadedTaesd } from './pipeline.js';

export interface ModuleRow {
  path: string;
  module: string;
  shape: number[];
  params: number;
  flops: number;
  /** GPU milliseconds, when the adapter has timestamp queries. */
  gpuMs?: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}

/**
 * The diffusers class behind a module path (from its last name), for the SD VAE and the consistency
 * decoder. TAESD's paths are positions in an nn.Sequential (`decoder.layers.3`), which only the model
 * can name: pass it as `taesd`.
 */
export function moduleClass(path: string, taesd?: AutoencoderTiny): string {
  if (taesd) return taesdClass(path, taesd);
  const parts = path.split('.');
  const last = parts[parts.length - 1];
  const parent = parts[parts.length - 2] ?? '';
  if (parent === 'resnets' || parent === 'downsamplers' || parent === 'upsamplers') return path.startsWith('decoder_unet') || parent === 'resnets' ? 'ResnetBlock2D' : 'Resample';
  if (parent === 'attentions') return 'Attention';
  if (parent === 'down_blocks') return path.startsWith('decoder_unet') ? 'ResnetDownsampleBlock2D' : 'DownEncoderBlock2D';
  if (parent === 'up_blocks') return path.startsWith('decoder_unet') ? 'ResnetUpsampleBlock2D' : 'UpDecoderBlock2D';
  if (last === 'mid_block') return 'UNetMidBlock2D';
  if (last === 'conv_norm_out') return 'GroupNorm';
  if (last === 'time_proj') return 'Embedding';
  if (last === 'time_embedding') return 'TimestepEmbedding';
  if (last.includes('conv')) return 'Conv2d';
  return 'sampler';
}

/** TAESD: `encoder.layers.N` / `decoder.layers.N` name an entry of the Sequential; `.conv.act` a block's ReLU. */
function taesdClass(path: string, m: AutoencoderTiny): string {
  const match = /^(encoder|decoder)\.layers\.(\d+)(\.conv\.act)?$/.exec(path);
  if (!match) return 'sampler';
  if (match[3]) return 'ReLU';
  const layer = (match[1] === 'encoder' ? m.encoder : m.decoder).layers[Number(match[2])];
  if (layer === 'relu') return 'ReLU';
  if (layer === 'upsample') return 'Upsample';
  return layer instanceof AutoencoderTinyBlock ? 'AutoencoderTinyBlock' : 'Conv2d';
}

function stats(data: Float32Array): { mean: number; std: number; min: number; max: number } {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / data.length;
  let sq = 0;
  for (const v of data) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / data.length), min, max };
}

/**
 * Runs the model once with every tap on and profiling (when available): the SD VAE encodes `image`
 * and decodes its mean; the consistency decoder encodes it and runs one UNet step (t = 1008); TAESD
 * encodes it and decodes the latent.
 * `paramCounts` maps checkpoint tensor names to their element counts. `onActivation`, when given,
 * receives each module's output as read back (NHWC, with its NHWC shape), e.g. to draw it.
 */
export async function inspectModel(gpu: Gpu, m: LoadedModel | LoadedTaesd, image: RgbImage, paramCounts: Map<string, number>, onActivation?: (path: string, data: Float32Array, nhwcShape: readonly number[]) => void): Promise<ModuleRow[]> {
  const taps = new Map<string, Tensor>();
  const ctx = { gpu, taps };
  gpu.opLog = [];
  const profiling = gpu.features.timestamps;
  if (profiling) gpu.profiler.start();
  try {
    const x = gpu.upload(toTensorData(image), [1, image.height, image.width, 3], 'image');
    if (m.kind === 'taesd') {
      const latent = m.model.encode(x, ctx);
      x.release();
      m.model.decode(latent, ctx).release();
      latent.release();
    } else {
      const dist = m.model.encode(x, ctx);
      x.release();
      const y = m.kind === 'vae' ? (m.model as AutoencoderKL).decode(dist.mean, ctx) : (m.model as ConsistencyDecoder).decode(dist.mean, { timesteps: [1008], seed: 0, ctx });
      dist.release();
      y.release();
    }
    await gpu.sync();
  } finally {
    if (profiling) gpu.profiler.stop();
  }
  const ops = gpu.opLog;
  gpu.opLog = null;
  const times = profiling ? gpu.timings() : [];
  const within = (label: string, path: string) => label.startsWith(`${path}.`) || label.startsWith(`${path} `);
  const rows: ModuleRow[] = [];
  for (const [path, t] of taps) {
    const data = await t.read();
    onActivation?.(path, data, t.shape);
    const shape = t.shape.length === 4 ? [t.shape[0], t.shape[3], t.shape[1], t.shape[2]] : [...t.shape];
    t.release();
    let params = 0;
    for (const [name, n] of paramCounts) if (name.startsWith(`${path}.`)) params += n;
    const flops = ops.filter((o) => within(o.label, path)).reduce((a, o) => a + o.flops, 0);
    const gpuMs = profiling ? times.filter((o) => within(o.label, path)).reduce((a, o) => a + o.ms, 0) : undefined;
    rows.push({ path, module: moduleClass(path, m.kind === 'taesd' ? m.model : undefined), shape, params, flops, gpuMs, ...stats(data) });
  }
  return rows;
}

export function formatRows(rows: ModuleRow[]): string {
  const head = `${'module (diffusers path)'.padEnd(44)} ${'class'.padEnd(24)} ${'output shape'.padEnd(20)} ${'params'.padStart(11)} ${'GFLOP'.padStart(8)} ${'GPU ms'.padStart(9)} ${'mean'.padStart(9)} ${'std'.padStart(8)} ${'min'.padStart(9)} ${'max'.padStart(9)}`;
  const f = (v: number, w: number, d = 3) => v.toFixed(d).padStart(w);
  const lines = rows.map(
    (r) =>
      `${r.path.padEnd(44)} ${r.module.padEnd(24)} ${`[${r.shape.join(', ')}]`.padEnd(20)} ${String(r.params).padStart(11)} ${f(r.flops / 1e9, 8)} ${r.gpuMs === undefined ? '-'.padStart(9) : f(r.gpuMs, 9, 2)} ${f(r.mean, 9)} ${f(r.std, 8)} ${f(r.min, 9)} ${f(r.max, 9)}`,
  );
  return [head, '-'.repeat(head.length), ...lines].join('\n');
}
