// sdvae encode: PNG -> stored latent (see src/io/latents.ts for the format).

import { parseArgs } from 'node:util';
import { Gpu } from '../gpu/gpu.js';
import { writeLatentFile } from '../io/latents.js';
import { readPng } from '../io/png.js';
import { encodeImage, latentMeta, loadModel, prepareImage } from '../pipeline.js';
import { parseByteCount } from './check.js';
import { parseIntArg, parsePrecision, parseSize, progress, UsageError } from './common.js';
import { basename } from 'node:path';

export const ENCODE_HELP = `sdvae encode IMAGE.png (--vae DIR | --consistency DIR) -o OUT.latent.safetensors [options]

  --precision fp32|fp16|u8   how the latent is stored (default fp16; u8 = 8 bits per value with a
                             per-channel scale: 48x smaller than the RGB image)
  --center-crop              crop the largest centred square first
  --resize WxH | N           resize (Pillow-exact bicubic) after cropping
  --sample --seed N          store a sample of the latent distribution (default: its mean)
  --max-binding-bytes N      plan GPU work with this storage-binding limit
  --force                    overwrite OUT if it exists`;

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
      'max-binding-bytes': { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(ENCODE_HELP), 0;
  if (positionals.length !== 1) throw new UsageError(`encode: expected one input image, got ${positionals.length}\n\n${ENCODE_HELP}`);
  if (!values.output) throw new UsageError(`encode: -o OUT.latent.safetensors is required\n\n${ENCODE_HELP}`);
  if (!!values.vae === !!values.consistency) throw new UsageError(`encode: give exactly one of --vae DIR or --consistency DIR`);
  const precision = parsePrecision(values.precision);
  const resize = parseSize('resize', values.resize);
  const seed = parseIntArg('seed', values.seed, 0, 2 ** 53);
  if (seed !== undefined && !values.sample) throw new UsageError('encode: --seed needs --sample');
  const input = positionals[0];
  const { image: raw, warnings } = readPng(input);
  warnings.forEach((w) => progress(`warning: ${w}`));

  const gpu = await Gpu.create({ maxBindingBytes: parseByteCount('max-binding-bytes', values['max-binding-bytes']) });
  try {
    const kind = values.vae ? 'vae' : 'consistency';
    progress(`loading ${kind === 'vae' ? 'VAE' : 'consistency decoder'} from ${values.vae ?? values.consistency}`);
    const m = await loadModel(gpu, (values.vae ?? values.consistency)!, kind);
    const prepared = prepareImage(raw, { centerCrop: values['center-crop'], resize }, m.model.downscale, input);
    progress(`encoding ${input} (${prepared.image.width}x${prepared.image.height})`);
    const t0 = performance.now();
    const latent = await encodeImage(gpu, m, prepared.image, { sampleSeed: values.sample ? seed ?? 0 : undefined });
    const meta = latentMeta(m, { source: basename(input), sourceSize: [raw.width, raw.height], crop: prepared.crop, resize: prepared.resize, sampling: values.sample ? `sample:${seed ?? 0}` : 'mode' });
    writeLatentFile(values.output, { ...latent, precision, meta }, { force: values.force });
    progress(`wrote ${values.output}: latent [${latent.shape}] ${precision} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    m.model.release();
    return 0;
  } finally {
    gpu.destroy();
  }
}
