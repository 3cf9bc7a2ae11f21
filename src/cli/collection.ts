// The folder forms of sdvae encode and decode (the work is in src/collection*.ts):
//   sdvae encode DIR_OR_GLOB... (--vae DIR | --consistency DIR) -o LATENTS_DIR [--batch N] [--report]
//   sdvae decode LATENTS_DIR (--vae DIR | --consistency DIR | --taesd DIR) -o OUT_DIR [--batch N]
// Progress lines go to stderr, the summary to stdout (and into OUT/index.json).

import type { Gpu } from '../gpu/gpu.js';
import { formatSummary, listInputs } from '../collection.js';
import { batchDecoder, decodeCollection, encodeCollection, type BatchDecoder } from '../collection_run.js';
import type { LatentPrecision } from '../io/latents.js';
import type { LoadedModel, LoadedTaesd, PrepareOptions } from '../pipeline.js';
import { progress } from './common.js';

export const COLLECTION_HELP = `Folders (several inputs, a folder or a glob such as 'photos/*.png'):
  -o DIR                 the output folder; DIR/index.json lists every item (source, output, model,
                         precision, sizes, sha256) and failures, with a summary
  --batch N              images (latents) of equal size share one GPU pass, N at a time (default 1);
                         other sizes are grouped separately. The consistency decoder's --seed then
                         seeds one noise draw for the whole batch (as diffusers does for a batch), so
                         with N > 1 its images differ from decoding each latent alone with that seed
  --report               encode: decode each stored latent (with the model's decoder, and TAESD with
                         --taesd) and report PSNR/SSIM mean and the worst image per decoder; decode:
                         measure each image against its original (the source the latent records,
                         cropped and resized as it was), same report
  --force                redo outputs that exist; without it a rerun skips complete outputs newer
                         than their input, and refuses to replace outputs made by another model`;

export interface CollectionArgs {
  inputs: string[];
  outDir: string;
  batch: number;
  force: boolean;
  report: boolean;
}

const log = (line: string) => progress(line);

export async function encodeFolder(gpu: Gpu, m: LoadedModel, a: CollectionArgs, precision: LatentPrecision, prepare: PrepareOptions, taesd?: LoadedTaesd): Promise<number> {
  const inputs = listInputs(a.inputs, '.png');
  progress(`encoding ${inputs.length} images into ${a.outDir} (${precision}, batches of up to ${a.batch})`);
  const report: BatchDecoder[] = a.report ? [batchDecoder(gpu, m), ...(taesd ? [batchDecoder(gpu, taesd)] : [])] : [];
  const { summary } = await encodeCollection(gpu, m, inputs, { outDir: a.outDir, batch: a.batch, force: a.force, log, precision, prepare, report });
  console.log(formatSummary(summary, 'latents'));
  return summary.failed ? 1 : 0;
}

export async function decodeFolder(gpu: Gpu, m: LoadedModel | LoadedTaesd, a: CollectionArgs, opts: { steps?: number; seed?: number; clamp?: boolean }): Promise<number> {
  const files = listInputs(a.inputs, '.latent.safetensors');
  progress(`decoding ${files.length} latents from ${a.inputs.join(' ')} into ${a.outDir} with ${m.name}`);
  const { summary } = await decodeCollection(batchDecoder(gpu, m, opts), files, { outDir: a.outDir, batch: a.batch, force: a.force, log, report: a.report });
  console.log(formatSummary(summary, 'images'));
  return summary.failed ? 1 : 0;
}

