// sdvae compare: the decoder comparison as one command (see src/compare.ts).
//
//   with models:  encode each image with the SD VAE, store its latent, decode it with the SD VAE decoder
//                 and with the consistency decoder, write the figure and the numbers.
//   --decoded:    compare an original with images decoded elsewhere (no GPU needed).

import { GPU_OPTIONS, gpuOptions, loadOptions } from './common.js';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { comparisonFigure, formatReports, measure, mostDifferentWindow, type DecoderResult, type ImageReport } from '../compare.js';
import { Gpu } from '../gpu/gpu.js';
import { latentBytes, readLatentFile, roundTrip, writeLatentFile, type LatentPrecision } from '../io/latents.js';
import { pngBytes, readPng, writePng } from '../io/png.js';
import { psnr } from '../metrics/psnr.js';
import { decodeLatent, decodeLatentTaesd, encodeImage, latentMeta, loadModel, loadTaesd, prepareImage, type LoadedModel, type LoadedTaesd } from '../pipeline.js';
import { resolveTaesdPath } from '../io/taesd_path.js';
import type { RgbImage } from '../io/image.js';
import { progressLine } from './weights.js';
import { DEFAULT_MODELS, ensureDefaultModel } from '../io/default_models.js';
import { MANIFEST, type Manifest } from '../io/weights_manifest.js';
import type { FetchProgress } from '../io/fetch.js';
import { clampOption, parseIntArg, parsePrecision, parseSize, progress, UsageError } from './common.js';
import { formatQuality, listInputs, qualitySummary } from '../collection.js';

export const COMPARE_HELP = `sdvae compare IMAGE.png [MORE.png ...] [--vae PATH --consistency PATH] -o OUTDIR [options]
sdvae compare DIR_OR_GLOB... [--vae PATH --consistency PATH] [--taesd DIR] -o OUTDIR
sdvae compare ORIGINAL.png --decoded A.png,B.png [--labels "SD VAE,Consistency"] -o OUTDIR

For each image: encode with the SD VAE, store the latent (OUTDIR/NAME.latent.safetensors), decode it
with the SD VAE decoder and the consistency decoder, and write OUTDIR/NAME.compare.png (Original |
SD VAE | Consistency, plus a zoomed crop where the decoders differ most). Prints PSNR, SSIM, SSIM on
luma, decode times and storage sizes (PNG vs fp32/fp16/8-bit latents, and the PSNR each latent
precision costs); OUTDIR/report.json holds the same. A folder (or a glob such as 'photos/*.png')
compares each of its PNGs; one that cannot be read (or prepared) is reported and skipped, and
OUTDIR/summary.json has the PSNR/SSIM mean and worst image per decoder.

Without --vae and --consistency it uses the seed's pair, SD 1.5's VAE and OpenAI's consistency decoder,
from the Hugging Face cache, downloading them there on first use (with progress). PATH: a folder, a
.safetensors/.ckpt/.pt/.bin file, OpenAI's decoder.pt, or a hub id (ORG/NAME[/SUBFOLDER]) found in the cache.

  --center-crop, --resize WxH|N   prepare the image (as in sdvae encode)
  --precision fp32|fp16|u8        precision of the stored latent the decoders read (default fp16)
  --steps N, --seed N, --clamp, --no-clamp
                                  consistency decoder options (as in sdvae decode)
  --taesd DIR                     add TAESD (AutoencoderTiny, or a hub id such as madebyollin/taesd) as a
                                  third decoder: Original | SD VAE | Consistency | TAESD
  --json                          print the report as JSON instead of the table
  --force                         overwrite files in OUTDIR`;

export async function runCompare(argv: string[], deps: { manifest?: Manifest } = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      vae: { type: 'string' },
      consistency: { type: 'string' },
      taesd: { type: 'string' },
      decoded: { type: 'string' },
      labels: { type: 'string' },
      output: { type: 'string', short: 'o' },
      'center-crop': { type: 'boolean', default: false },
      resize: { type: 'string' },
      precision: { type: 'string' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      clamp: { type: 'boolean' },
      'no-clamp': { type: 'boolean' },
      ...GPU_OPTIONS,
      json: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(COMPARE_HELP), 0;
  if (!positionals.length) throw new UsageError(`compare: no images given\n\n${COMPARE_HELP}`);
  if (!values.output) throw new UsageError('compare: -o OUTDIR is required');
  mkdirSync(values.output, { recursive: true });
  const outFile = (name: string) => {
    const f = join(values.output!, name);
    if (existsSync(f) && !values.force) throw new Error(`${f} already exists; use --force to overwrite it`);
    return f;
  };

  let reports: ImageReport[];
  const failed: { source: string; error: string }[] = [];
  if (values.decoded) {
    if (values.vae || values.consistency || values.taesd) throw new UsageError('compare: --decoded compares existing images; do not give --vae/--consistency with it');
    if (positionals.length !== 1) throw new UsageError('compare: --decoded takes one original image');
    reports = [compareDecoded(positionals[0], values.decoded.split(','), values.labels?.split(','), outFile)];
  } else {
    if (!values.vae !== !values.consistency) throw new UsageError('compare: give both --vae and --consistency, or neither (the default pair: SD 1.5 VAE + consistency decoder)');
    if (!values.vae) {
      const manifest = deps.manifest ?? MANIFEST;
      const base = process.env.HF_ENDPOINT;
      const onProgress = downloadProgress();
      values.vae = await ensureDefaultModel(manifest, DEFAULT_MODELS.vae, { base, onProgress, log: progress });
      values.consistency = await ensureDefaultModel(manifest, DEFAULT_MODELS.consistency, { base, onProgress, log: progress });
    }
    const opts = {
      resize: parseSize('resize', values.resize),
      centerCrop: values['center-crop'],
      precision: parsePrecision(values.precision),
      steps: parseIntArg('steps', values.steps, 1, 64),
      seed: parseIntArg('seed', values.seed, 0, 2 ** 53),
      clamp: clampOption(values.clamp, values['no-clamp']),
    };
    const gpu = await Gpu.create(gpuOptions(values));
    try {
      progress(`loading the SD VAE from ${values.vae} and the consistency decoder from ${values.consistency}`);
      const vae = await loadModel(gpu, values.vae, 'vae', loadOptions(values));
      const cons = await loadModel(gpu, values.consistency!, 'consistency', loadOptions(values));
      if (vae.latentSpace !== cons.latentSpace)
        throw new Error(`${values.vae} (latent space ${vae.latentSpace}) and ${values.consistency} (${cons.latentSpace}) do not share a latent space`);
      const taesd = values.taesd ? await loadTaesd(gpu, resolveTaesdPath(values.taesd), loadOptions(values)) : undefined;
      if (taesd && taesd.latentSpace !== vae.latentSpace) throw new Error(`${values.taesd} (latent space ${taesd.latentSpace}) does not decode ${values.vae}'s latent space ${vae.latentSpace}`);
      reports = [];
      const folder = positionals.some((p) => /[*?]/.test(p) || (existsSync(p) && statSync(p).isDirectory()));
      const images = folder ? listInputs(positionals, '.png') : positionals;
      for (const [i, path] of images.entries()) {
        progress(`[${i + 1}/${images.length}] ${path}`);
        if (folder) {
          try {
            prepareImage(readPng(path).image, { centerCrop: opts.centerCrop, resize: opts.resize }, vae.model.downscale, path);
          } catch (e) {
            failed.push({ source: path, error: (e as Error).message });
            progress(`skipped ${path}: ${(e as Error).message}`);
            continue;
          }
        }
        reports.push(await compareWithModels(gpu, path, vae, cons, opts, outFile, taesd));
      }
      vae.model.release();
      cons.model.release();
      taesd?.model.release();
    } finally {
      gpu.destroy();
    }
  }
  writeFileSync(outFile('report.json'), JSON.stringify(reports, null, 2) + '\n');
  console.log(values.json ? JSON.stringify(reports, null, 2) : formatReports(reports));
  if (reports.length > 1 || failed.length) {
    const quality = qualitySummary(reports.flatMap((r) => r.decoders.map((d) => ({ source: r.image, decoder: d.decoder, psnr: d.psnr, ssim: d.ssim }))));
    writeFileSync(outFile('summary.json'), JSON.stringify({ images: reports.length, failed, quality }, null, 2) + '\n');
    if (!values.json) console.log([`${reports.length} images compared, ${failed.length} skipped`, ...formatQuality(quality)].join('\n'));
  }
  return failed.length ? 1 : 0;
}

const stem = (p: string) => basename(p, extname(p));

/** `zoomWith`: the decoder whose difference from the first picks the zoomed window (default: the last). */
function finish(original: RgbImage, name: string, decoded: DecoderResult[], outFile: (n: string) => string, zoomWith = decoded.length - 1): Omit<ImageReport, 'storage'> {
  const zoom = mostDifferentWindow(decoded[0].image, decoded[zoomWith].image);
  const figure = outFile(`${name}.compare.png`);
  writePng(figure, comparisonFigure(original, decoded, zoom), { force: true });
  return { image: name, size: [original.width, original.height], decoders: decoded.map((d) => measure(original, d)), zoom, figure };
}

function compareDecoded(originalPath: string, decodedPaths: string[], labels: string[] | undefined, outFile: (n: string) => string): ImageReport {
  if (labels && labels.length !== decodedPaths.length) throw new UsageError(`compare: ${decodedPaths.length} decoded images but ${labels.length} labels`);
  const original = readPng(originalPath).image;
  const decoded = decodedPaths.map((p, i) => {
    const image = readPng(p).image;
    if (image.width !== original.width || image.height !== original.height)
      throw new Error(`${p} is ${image.width}x${image.height} but ${originalPath} is ${original.width}x${original.height}`);
    return { label: labels?.[i] ?? stem(p), image };
  });
  return finish(original, stem(originalPath), decoded, outFile);
}

interface ModelOptions {
  resize?: [number, number];
  centerCrop: boolean;
  precision: LatentPrecision;
  steps?: number;
  seed?: number;
  clamp: boolean | undefined;
}

async function compareWithModels(gpu: Gpu, path: string, vae: LoadedModel, cons: LoadedModel, o: ModelOptions, outFile: (n: string) => string, taesd?: LoadedTaesd): Promise<ImageReport> {
  const name = stem(path);
  const { image: raw, warnings } = readPng(path);
  warnings.forEach((w) => progress(`warning: ${w}`));
  const { image, crop, resize } = prepareImage(raw, { centerCrop: o.centerCrop, resize: o.resize }, vae.model.downscale, path);
  progress(`  encoding (${image.width}x${image.height})`);
  const latent = await encodeImage(gpu, vae, image);
  const latentPath = outFile(`${name}.latent.safetensors`);
  writeLatentFile(latentPath, { ...latent, precision: o.precision, meta: latentMeta(vae, { source: basename(path), sourceSize: [raw.width, raw.height], crop, resize, sampling: 'mode' }) }, { force: true });
  const stored = readLatentFile(latentPath);

  const timed = async (label: string, m: LoadedModel) => {
    progress(`  decoding with ${label}`);
    const t0 = performance.now();
    const img = await decodeLatent(gpu, m, stored, latentPath, { steps: o.steps, seed: o.seed, clamp: o.clamp, onStep: (i, t, n) => progress(`    step ${i + 1}/${n} (t=${t})`) });
    return { label, image: img, seconds: (performance.now() - t0) / 1000 };
  };
  const decoded = [await timed('SD VAE', vae), await timed('Consistency', cons)];
  writePng(outFile(`${name}.vae.png`), decoded[0].image, { force: true });
  writePng(outFile(`${name}.consistency.png`), decoded[1].image, { force: true });
  if (taesd) {
    progress('  decoding with TAESD');
    const t0 = performance.now();
    const img = await decodeLatentTaesd(gpu, taesd, stored, latentPath);
    decoded.push({ label: 'TAESD', image: img, seconds: (performance.now() - t0) / 1000 });
    writePng(outFile(`${name}.taesd.png`), img, { force: true });
  }

  progress('  measuring what each latent precision costs (SD VAE decoder)');
  const byPrecision = { fp32: 0, fp16: 0, u8: 0 };
  for (const p of ['fp32', 'fp16', 'u8'] as const) {
    const data = roundTrip(latent.data, latent.shape, p);
    const img = await decodeLatent(gpu, vae, { data, shape: latent.shape, precision: p, meta: stored.meta }, latentPath);
    byPrecision[p] = psnr(image, img);
  }
  const rgbBytes = 3 * image.width * image.height;
  const bytes = { fp32: latentBytes(latent.shape, 'fp32'), fp16: latentBytes(latent.shape, 'fp16'), u8: latentBytes(latent.shape, 'u8') };
  const storage = {
    png_bytes: pngBytes(image),
    latent_bytes: bytes,
    compression: { fp32: rgbBytes / bytes.fp32, fp16: rgbBytes / bytes.fp16, u8: rgbBytes / bytes.u8 },
    psnr_by_precision: byPrecision,
  };
  // The zoom shows where the SD VAE and the consistency decoder differ most, with or without TAESD.
  return { ...finish(image, name, decoded, outFile, 1), storage };
}

/** Download progress on stderr: the same line as `sdvae weights fetch` (rewritten in place on a terminal). */
function downloadProgress(): (file: string, p: FetchProgress) => void {
  let line: ReturnType<typeof progressLine> | undefined;
  let current = '';
  return (file, p) => {
    if (file !== current) {
      line?.end();
      line = progressLine(`  ${file}`, process.stderr);
      current = file;
    }
    line!.update(p);
    if (p.total !== undefined && p.done === p.total) line!.end();
  };
}
