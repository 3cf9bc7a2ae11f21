// sdvae decode: stored latent -> PNG, with the SD VAE decoder (--vae), the consistency decoder
// (--consistency) or TAESD (--taesd); --preview writes the TAESD decode first, then the slow one.

import { GPU_OPTIONS, GPU_OPTIONS_HELP, gpuOptions, loadOptions } from './common.js';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Gpu } from '../gpu/gpu.js';
import { readLatentFile } from '../io/latents.js';
import { writePng } from '../io/png.js';
import { TILED_CONSISTENCY_DEFAULT_TILE } from '../models/tiled_consistency.js';
import { decodeLatent, decodeLatentTaesd, loadModel, loadTaesd } from '../pipeline.js';
import { resolveTaesdPath } from '../io/taesd_path.js';
import { applyTuneOption, TUNE_OPTION_HELP, tuneMissing } from './tune.js';
import { clampOption, parseIntArg, progress, UsageError } from './common.js';
import { isCollection } from '../collection.js';
import { COLLECTION_HELP, decodeFolder } from './collection.js';

export const DECODE_HELP = `sdvae decode LATENT.safetensors (--vae DIR | --consistency DIR | --taesd DIR) -o OUT.png [options]
sdvae decode LATENTS_DIR (--vae DIR | --consistency DIR | --taesd DIR) -o OUT_DIR [--batch N] [--report]

  --taesd DIR            TAESD (AutoencoderTiny; DIR, or a hub id: the HF cache, then weights/taesd):
                         alone, the decoder; with --vae/--consistency and --preview, the previewer
  --preview              with --taesd: write its decode to OUT.preview.png first (about 40x fewer
                         FLOPs than the SD VAE decoder), then the slow decode to OUT

  --steps N              consistency decoder steps (default 2: timesteps [1008, 512], as diffusers)
  --seed N               noise seed (torch-compatible: the same seed gives diffusers' image)
  --torch-seed N         the same as --seed
  --clamp                clamp x0 to [-1, 1] after every step (OpenAI's original sampler; the
                         default for OpenAI's decoder.pt)
  --no-clamp             diffusers' loop (no clamp; the default for diffusers checkpoints)
  --tiled                decode in overlapping tiles, blended. APPROXIMATE (per-tile statistics); only
                         for images too large for memory: the plain decode is exact at any size that
                         fits. SD VAE: 64x64-latent tiles as diffusers' tiled_decode. Consistency
                         decoder: the UNet runs per tile, the sampler and its noise on the full image
  --tile-size N          consistency --tiled: tile side in latent pixels (8 image pixels each;
                         default 64, i.e. 512x512-pixel tiles)
  --tile-overlap N       consistency --tiled: latent pixels neighbouring tiles share (default N/4)
${GPU_OPTIONS_HELP}
${TUNE_OPTION_HELP}
  --force                overwrite OUT if it exists

${COLLECTION_HELP}`;

export async function runDecode(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      vae: { type: 'string' },
      consistency: { type: 'string' },
      taesd: { type: 'string' },
      preview: { type: 'boolean', default: false },
      output: { type: 'string', short: 'o' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      'torch-seed': { type: 'string' },
      clamp: { type: 'boolean' },
      'no-clamp': { type: 'boolean' },
      tiled: { type: 'boolean', default: false },
      'tile-size': { type: 'string' },
      'tile-overlap': { type: 'string' },
      ...GPU_OPTIONS,
      tune: { type: 'string' },
      force: { type: 'boolean', default: false },
      batch: { type: 'string' },
      report: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(DECODE_HELP), 0;
  const tune = applyTuneOption(values.tune);
  if (!positionals.length) throw new UsageError(`decode: no latent file given\n\n${DECODE_HELP}`);
  const folder = isCollection(positionals);
  if (!folder && (values.batch !== undefined || values.report)) throw new UsageError('decode: --batch and --report apply to folders of latents');
  if (!values.output) throw new UsageError(`decode: -o OUT.png is required\n\n${DECODE_HELP}`);
  const slow = [values.vae, values.consistency].filter(Boolean).length;
  if (slow > 1 || (!slow && !values.taesd)) throw new UsageError('decode: give exactly one of --vae DIR, --consistency DIR or --taesd DIR (--taesd may join the others with --preview)');
  if (values.preview && (!values.taesd || !slow)) throw new UsageError('decode: --preview needs --taesd DIR and --vae DIR or --consistency DIR (TAESD previews the slow decoder)');
  if (values.taesd && slow && !values.preview) throw new UsageError('decode: --taesd with --vae/--consistency needs --preview');
  if (values.seed !== undefined && values['torch-seed'] !== undefined) throw new UsageError('decode: give --seed or --torch-seed, not both');
  const steps = parseIntArg('steps', values.steps, 1, 64);
  const seed = parseIntArg('seed', values.seed ?? values['torch-seed'], 0, 2 ** 53);
  if (!values.consistency && (steps !== undefined || seed !== undefined || values.clamp || values['no-clamp'])) throw new UsageError('decode: --steps, --seed and --clamp apply to --consistency only');
  if (values.tiled && !slow) throw new UsageError('decode: --tiled applies to --vae or --consistency');
  const tileSize = parseIntArg('tile-size', values['tile-size'], 1, 2 ** 20);
  const overlap = parseIntArg('tile-overlap', values['tile-overlap'], 0, 2 ** 20);
  if ((tileSize !== undefined || overlap !== undefined) && !(values.tiled && values.consistency))
    throw new UsageError('decode: --tile-size and --tile-overlap apply to --consistency DIR --tiled only');
  if (overlap !== undefined && overlap >= (tileSize ?? TILED_CONSISTENCY_DEFAULT_TILE))
    throw new UsageError(`decode: --tile-overlap (${overlap}) must be smaller than --tile-size (${tileSize ?? TILED_CONSISTENCY_DEFAULT_TILE}), both in latent pixels`);
  if (folder) {
    if (values.preview || values.tiled || slow + (values.taesd ? 1 : 0) !== 1) throw new UsageError('decode: a folder is decoded with one of --vae, --consistency or --taesd (no --preview, no --tiled)');
    const batch = parseIntArg('batch', values.batch, 1, 1024) ?? 1;
    const gpu = await Gpu.create(gpuOptions(values));
    try {
      const m = values.taesd ? await loadTaesd(gpu, resolveTaesdPath(values.taesd), loadOptions(values)) : await loadModel(gpu, (values.vae ?? values.consistency)!, values.vae ? 'vae' : 'consistency', loadOptions(values));
      const code = await decodeFolder(gpu, m, { inputs: positionals, outDir: values.output, batch, force: values.force, report: values.report }, { steps, seed, clamp: values.clamp });
      await tuneMissing(gpu, tune);
      m.model.release();
      return code;
    } finally {
      gpu.destroy();
    }
  }
  if (existsSync(values.output) && !values.force) throw new Error(`${values.output} already exists; use --force to overwrite it`);
  const previewPath = values.preview ? values.output.replace(/(\.png)?$/i, '.preview.png') : undefined;
  if (previewPath && existsSync(previewPath) && !values.force) throw new Error(`${previewPath} already exists; use --force to overwrite it`);
  const latent = readLatentFile(positionals[0]);
  const taesdPath = values.taesd ? resolveTaesdPath(values.taesd) : undefined;

  const gpu = await Gpu.create(gpuOptions(values));
  try {
    if (taesdPath) {
      progress(`loading TAESD from ${taesdPath}`);
      const taesd = await loadTaesd(gpu, taesdPath, loadOptions(values));
      const t0 = performance.now();
      const image = await decodeLatentTaesd(gpu, taesd, latent, positionals[0]);
      const out = previewPath ?? values.output;
      writePng(out, image, { force: values.force });
      progress(`wrote ${out} (${image.width}x${image.height}, TAESD${previewPath ? ' preview' : ''}) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      taesd.model.release();
      if (!slow) return 0;
    }
    const kind = values.vae ? 'vae' : 'consistency';
    progress(`loading ${kind === 'vae' ? 'VAE' : 'consistency decoder'} from ${values.vae ?? values.consistency}`);
    const [, c, h, w] = latent.shape; // the first decode is planned while the weights load
    const sampler = { steps, seed, clamp: clampOption(values.clamp, values['no-clamp']) }; // the consistency decode's plan depends on them
    const prepareDecode = values.tiled || latent.shape[0] !== 1 ? undefined : [1, h, w, c];
    const m = await loadModel(gpu, (values.vae ?? values.consistency)!, kind, { ...loadOptions(values), prepareDecode, prepareDecodeOptions: sampler });
    const t0 = performance.now();
    const image = await decodeLatent(gpu, m, latent, positionals[0], {
      ...sampler,
      onStep: (i, t, n) => progress(`step ${i + 1}/${n} (t=${t})`),
      tiled: values.tiled,
      tileSize,
      overlap,
      onTile: (i, k, n) => progress(`  tile ${k + 1}/${n}`),
    });
    writePng(values.output, image, { force: values.force });
    progress(`wrote ${values.output} (${image.width}x${image.height}) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    await tuneMissing(gpu, tune);
    m.model.release();
    return 0;
  } finally {
    gpu.destroy();
  }
}
