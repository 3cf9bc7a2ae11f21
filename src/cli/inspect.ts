// sdvae inspect: a per-module table of a real forward pass (see src/inspect.ts).

import { GPU_OPTIONS, gpuOptions, loadOptions } from './common.js';
import { parseArgs } from 'node:util';
import { Gpu } from '../gpu/gpu.js';
import { createImage, resize } from '../io/image.js';
import { readPng } from '../io/png.js';
import { openCheckpoint } from '../io/weights.js';
import { formatRows, inspectModel } from '../inspect.js';
import { loadModel, loadTaesd, prepareImage } from '../pipeline.js';
import { modelClass } from './models.js';
import { parseSize, UsageError } from './common.js';

export const INSPECT_HELP = `sdvae inspect --model DIR [--input IMAGE.png | --size WxH] [--json] [--print-wgsl]

Runs the model once (SD VAE: encode, then decode the mean; consistency decoder: encode, then one UNet
step at t=1008; TAESD: encode, then decode the latent) and prints one row per module: diffusers path,
class, output shape, parameters, FLOPs, GPU time (timestamp queries, where the adapter has them) and the output's mean/std/min/max.
Without --input, a smooth synthetic image of --size (default 64x64) is used.
--print-wgsl prints the WGSL of every pipeline as it is created (any command: SDVAE_PRINT_WGSL=1).`;

export async function runInspect(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      input: { type: 'string' },
      size: { type: 'string' },
      json: { type: 'boolean', default: false },
      'print-wgsl': { type: 'boolean', default: false },
      ...GPU_OPTIONS,
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(INSPECT_HELP), 0;
  if (!values.model) throw new UsageError(`inspect: --model DIR is required\n\n${INSPECT_HELP}`);
  const cls = modelClass(values.model);
  const kind = cls === 'ConsistencyDecoderVAE' ? 'consistency' : cls === 'AutoencoderTiny' ? 'taesd' : 'vae';
  const size = parseSize('size', values.size) ?? [64, 64];
  const gpu = await Gpu.create({
    ...gpuOptions(values),
    onShader: values['print-wgsl'] ? (label, code) => console.error(`// ---- pipeline ${label}\n${code}`) : undefined,
  });
  try {
    const m = kind === 'taesd' ? await loadTaesd(gpu, values.model, loadOptions(values)) : await loadModel(gpu, values.model, kind, loadOptions(values));
    let image = values.input ? readPng(values.input).image : synthetic(size[0], size[1]);
    if (values.input && values.size) image = resize(image, size[0], size[1]);
    image = prepareImage(image, {}, m.model.downscale, values.input ?? 'synthetic image').image;
    const ckpt = openCheckpoint(values.model);
    const counts = new Map(ckpt.names.map((n) => [n, ckpt.source(n)!.shape.reduce((a, b) => a * b, 1)]));
    ckpt.close();
    const rows = await inspectModel(gpu, m, image, counts);
    m.model.release();
    if (values.json) console.log(JSON.stringify({ adapter: gpu.adapterName, input: [image.width, image.height], timestamps: gpu.features.timestamps, modules: rows }, null, 2));
    else {
      console.log(`${values.model} on ${gpu.adapterName}, input ${image.width}x${image.height}`);
      console.log(formatRows(rows));
    }
    return 0;
  } finally {
    gpu.destroy();
  }
}

/** A smooth colour ramp: a deterministic input when no image is given. */
function synthetic(w: number, h: number) {
  const img = createImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      img.data[i] = Math.round((255 * x) / Math.max(1, w - 1));
      img.data[i + 1] = Math.round((255 * y) / Math.max(1, h - 1));
      img.data[i + 2] = Math.round(127.5 + 127.5 * Math.sin((x + y) / 6));
    }
  return img;
}
