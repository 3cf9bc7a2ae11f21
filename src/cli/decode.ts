// sdvae decode: stored latent -> PNG, with the SD VAE decoder (--vae) or the consistency decoder.

import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Gpu } from '../gpu/gpu.js';
import { readLatentFile } from '../io/latents.js';
import { writePng } from '../io/png.js';
import { decodeLatent, loadModel } from '../pipeline.js';
import { parseByteCount } from './check.js';
import { clampOption, parseIntArg, progress, UsageError } from './common.js';

export const DECODE_HELP = `sdvae decode LATENT.safetensors (--vae DIR | --consistency DIR) -o OUT.png [options]

  --steps N              consistency decoder steps (default 2: timesteps [1008, 512], as diffusers)
  --seed N               noise seed (torch-compatible: the same seed gives diffusers' image)
  --torch-seed N         the same as --seed
  --clamp                clamp x0 to [-1, 1] after every step (OpenAI's original sampler; the
                         default for OpenAI's decoder.pt)
  --no-clamp             diffusers' loop (no clamp; the default for diffusers checkpoints)
  --tiled                SD VAE only: decode in overlapping 64x64-latent tiles blended like diffusers'
                         tiled_decode. APPROXIMATE (per-tile statistics); only for images too large
                         for memory: the plain decode is exact at any size that fits
  --max-binding-bytes N  plan GPU work with this storage-binding limit
  --force                overwrite OUT if it exists`;

export async function runDecode(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      vae: { type: 'string' },
      consistency: { type: 'string' },
      output: { type: 'string', short: 'o' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      'torch-seed': { type: 'string' },
      clamp: { type: 'boolean' },
      'no-clamp': { type: 'boolean' },
      tiled: { type: 'boolean', default: false },
      'max-binding-bytes': { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(DECODE_HELP), 0;
  if (positionals.length !== 1) throw new UsageError(`decode: expected one latent file, got ${positionals.length}\n\n${DECODE_HELP}`);
  if (!values.output) throw new UsageError(`decode: -o OUT.png is required\n\n${DECODE_HELP}`);
  if (!!values.vae === !!values.consistency) throw new UsageError('decode: give exactly one of --vae DIR or --consistency DIR');
  if (values.seed !== undefined && values['torch-seed'] !== undefined) throw new UsageError('decode: give --seed or --torch-seed, not both');
  const steps = parseIntArg('steps', values.steps, 1, 64);
  const seed = parseIntArg('seed', values.seed ?? values['torch-seed'], 0, 2 ** 53);
  if (values.vae && (steps !== undefined || seed !== undefined || values.clamp || values['no-clamp'])) throw new UsageError('decode: --steps, --seed and --clamp apply to --consistency only');
  if (values.tiled && !values.vae) throw new UsageError('decode: --tiled applies to --vae only');
  if (existsSync(values.output) && !values.force) throw new Error(`${values.output} already exists; use --force to overwrite it`);
  const latent = readLatentFile(positionals[0]);

  const gpu = await Gpu.create({ maxBindingBytes: parseByteCount('max-binding-bytes', values['max-binding-bytes']) });
  try {
    const kind = values.vae ? 'vae' : 'consistency';
    progress(`loading ${kind === 'vae' ? 'VAE' : 'consistency decoder'} from ${values.vae ?? values.consistency}`);
    const m = await loadModel(gpu, (values.vae ?? values.consistency)!, kind);
    const t0 = performance.now();
    const image = await decodeLatent(gpu, m, latent, positionals[0], {
      steps,
      seed,
      clamp: clampOption(values.clamp, values['no-clamp']),
      onStep: (i, t, n) => progress(`step ${i + 1}/${n} (t=${t})`),
      tiled: values.tiled,
    });
    writePng(values.output, image, { force: values.force });
    progress(`wrote ${values.output} (${image.width}x${image.height}) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    m.model.release();
    return 0;
  } finally {
    gpu.destroy();
  }
}
