// sdvae encode: PNG -> stored latent (see src/io/latents.ts for the format); folders and globs ->
// a folder of latents (cli/collection.ts).

import { GPU_OPTIONS, GPU_OPTIONS_HELP, gpuOptions, loadOptions } from './common.js';
import { parseArgs } from 'node:util';
import { Gpu } from '../gpu/gpu.js';
import { writeLatentFile } from '../io/latents.js';
import { readPng } from '../io/png.js';
import { encodeImage, latentMeta, loadModel, prepareImage } from '../pipeline.js';
import { applyTuneOption, TUNE_OPTION_HELP, tuneMissing } from './tune.js';
import { parseIntArg, parsePrecision, parseSize, progress, UsageError } from './common.js';
import { basename } from 'node:path';
import { isCollection } from '../collection.js';
import { COLLECTION_HELP, encodeFolder } from './collection.js';
import { loadTaesd } from '../pipeline.js';
import { resolveTaesdPath } from '../io/taesd_path.js';

export const ENCODE_HELP = `sdvae encode IMAGE.png (--vae DIR | --consistency DIR) -o OUT.latent.safetensors [options]
sdvae encode DIR_OR_GLOB... (--vae DIR | --consistency DIR) -o LATENTS_DIR [--batch N] [--report [--taesd DIR]]

  --precision fp32|fp16|u8   how the latent is stored (default fp16; u8 = 8 bits per value with a
                             per-channel scale: 48x smaller than the RGB image)
  --center-crop              crop the largest centred square first
  --resize WxH | N           resize (Pillow-exact bicubic) after cropping
  --sample --seed N          store a sample of the latent distribution (default: its mean)
${GPU_OPTIONS_HELP}
  --force                    overwrite OUT if it exists
${TUNE_OPTION_HELP}

${COLLECTION_HELP}`;

export async function runEncode(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      vae: { type: 'string' },
      consistency: { type: 'string' },
      output: { type: 'string', short: 'o' },
      precision: { type: 'string' },
      'center-crop': { type: 'boolean', default: false },
      resize: { type: 'string' },
      sample: { type: 'boolean', default: false },
      seed: { type: 'string' },
      ...GPU_OPTIONS,
      tune: { type: 'string' },
      force: { type: 'boolean', default: false },
      batch: { type: 'string' },
      report: { type: 'boolean', default: false },
      taesd: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(ENCODE_HELP), 0;
  const tune = applyTuneOption(values.tune);
  if (!positionals.length) throw new UsageError(`encode: no input image given\n\n${ENCODE_HELP}`);
  const folder = isCollection(positionals);
  if (!folder && (values.batch !== undefined || values.report || values.taesd)) throw new UsageError('encode: --batch, --report and --taesd apply to folders (several inputs, a folder or a glob)');
  if (values.taesd && !values.report) throw new UsageError('encode: --taesd needs --report (TAESD is measured, it does not encode here)');
  if (!values.output) throw new UsageError(`encode: -o OUT.latent.safetensors is required\n\n${ENCODE_HELP}`);
  if (!!values.vae === !!values.consistency) throw new UsageError(`encode: give exactly one of --vae DIR or --consistency DIR`);
  const precision = parsePrecision(values.precision);
  const resize = parseSize('resize', values.resize);
  const seed = parseIntArg('seed', values.seed, 0, 2 ** 53);
  if (seed !== undefined && !values.sample) throw new UsageError('encode: --seed needs --sample');
  if (folder) {
    if (values.sample) throw new UsageError('encode: --sample is for single images (a folder stores each latent mean)');
    const batch = parseIntArg('batch', values.batch, 1, 1024) ?? 1;
    const gpu = await Gpu.create(gpuOptions(values));
    try {
      const kind = values.vae ? 'vae' : 'consistency';
      const m = await loadModel(gpu, (values.vae ?? values.consistency)!, kind, loadOptions(values));
      const taesd = values.taesd ? await loadTaesd(gpu, resolveTaesdPath(values.taesd), loadOptions(values)) : undefined;
      const code = await encodeFolder(gpu, m, { inputs: positionals, outDir: values.output, batch, force: values.force, report: values.report }, precision, { centerCrop: values['center-crop'], resize }, taesd);
      await tuneMissing(gpu, tune);
      m.model.release();
      taesd?.model.release();
      return code;
    } finally {
      gpu.destroy();
    }
  }
  const input = positionals[0];
  const { image: raw, warnings } = readPng(input);
  warnings.forEach((w) => progress(`warning: ${w}`));

  const gpu = await Gpu.create(gpuOptions(values));
  try {
    const kind = values.vae ? 'vae' : 'consistency';
    progress(`loading ${kind === 'vae' ? 'VAE' : 'consistency decoder'} from ${values.vae ?? values.consistency}`);
    const m = await loadModel(gpu, (values.vae ?? values.consistency)!, kind, loadOptions(values));
    const prepared = prepareImage(raw, { centerCrop: values['center-crop'], resize }, m.model.downscale, input);
    progress(`encoding ${input} (${prepared.image.width}x${prepared.image.height})`);
    const t0 = performance.now();
    const latent = await encodeImage(gpu, m, prepared.image, { sampleSeed: values.sample ? seed ?? 0 : undefined });
    const meta = latentMeta(m, { source: basename(input), sourceSize: [raw.width, raw.height], crop: prepared.crop, resize: prepared.resize, sampling: values.sample ? `sample:${seed ?? 0}` : 'mode' });
    writeLatentFile(values.output, { ...latent, precision, meta }, { force: values.force });
    progress(`wrote ${values.output}: latent [${latent.shape}] ${precision} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    await tuneMissing(gpu, tune);
    m.model.release();
    return 0;
  } finally {
    gpu.destroy();
  }
}
