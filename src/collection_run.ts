// The collection loops (see collection.ts for inputs, batching, resumption and the index):
//   encodeCollection: PNGs -> OUT/NAME.latent.safetensors, with --report the decoded quality
//   decodeCollection: LATENTS/*.latent.safetensors -> OUT/NAME.png
// An image or latent that cannot be read is reported, recorded under `failed` in the index, and
// skipped; the run goes on. Node only.

import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Gpu } from './gpu/gpu.js';
import { nchwToNhwc, nhwcToNchw } from './gpu/tensor.js';
import { fromTensorData, toTensorData, type RgbImage } from './io/image.js';
import { assertFinite, checkCompatible, readLatentFile, roundTrip, writeLatentFile, type LatentPrecision, type StoredLatent } from './io/latents.js';
import { readPng, writePng } from './io/png.js';
import { psnr } from './metrics/psnr.js';
import { ssimRgb } from './metrics/ssim.js';
import type { AutoencoderKL } from './models/autoencoder_kl.js';
import type { ConsistencyDecodeOptions, ConsistencyDecoder } from './models/consistency_decoder.js';
import { latentMeta, prepareImage, type LoadedModel, type LoadedTaesd, type PrepareOptions } from './pipeline.js';
import {
  batchesBySize, ensureOutDir, isFresh, outputNames, outputWritten, Progress, readIndex, sha256File, stem, summarize, writeIndex,
  type CollectionIndex, type IndexEntry, type Summary,
} from './collection.js';

/** Decodes a batch of stored latents of one shape in one GPU pass. */
export interface BatchDecoder {
  /** Column name in reports: 'SD VAE', 'Consistency', 'TAESD'. */
  label: string;
  model: string;
  decode(latents: StoredLatent[], paths: string[]): Promise<RgbImage[]>;
}

export function batchDecoder(gpu: Gpu, m: LoadedModel | LoadedTaesd, opts: Omit<ConsistencyDecodeOptions, 'ctx'> = {}): BatchDecoder {
  const label = m.kind === 'vae' ? 'SD VAE' : m.kind === 'consistency' ? 'Consistency' : 'TAESD';
  return {
    label,
    model: m.name,
    async decode(latents, paths) {
      const [, c, h, w] = latents[0].shape;
      const values = new Float32Array(latents.length * c * h * w);
      latents.forEach((l, i) => {
        checkCompatible(l, paths[i], m.latentSpace, m.name);
        assertFinite(l.data, paths[i]);
        if (l.shape[0] !== 1) throw new Error(`${paths[i]}: holds ${l.shape[0]} latents; collections store one latent per file`);
        // The SD VAE and the consistency decoder take the unscaled latent; TAESD the stored (× 0.18215) one.
        const s = m.kind === 'taesd' ? m.model.sdScalingFactor / l.meta.scalingFactor : 1 / l.meta.scalingFactor;
        const v = s === 1 ? l.data : m.kind === 'taesd' ? l.data.map((x) => x * s) : l.data.map((x) => x / l.meta.scalingFactor);
        values.set(nchwToNhwc(v, l.shape), i * c * h * w);
      });
      const z = gpu.upload(values, [latents.length, h, w, c], 'latents');
      const y = m.kind === 'vae' ? (m.model as AutoencoderKL).decode(z) : m.kind === 'consistency' ? (m.model as ConsistencyDecoder).decode(z, opts) : m.model.decode(z);
      z.release();
      const data = await y.read();
      const [, H, W] = y.shape;
      y.release();
      const per = H * W * 3;
      return latents.map((_, i) => fromTensorData(data.subarray(i * per, (i + 1) * per), W, H));
    },
  };
}

export interface CollectionOptions {
  outDir: string;
  batch: number;
  force: boolean;
  log: (line: string) => void;
}

export interface EncodeCollectionOptions extends CollectionOptions {
  precision: LatentPrecision;
  prepare: PrepareOptions;
  /** Decoders to measure each stored latent with (--report); empty: no quality report. */
  report: BatchDecoder[];
}

const fail = (index: CollectionIndex, log: (l: string) => void, source: string, e: unknown) => {
  const error = (e as Error).message;
  index.failed.push({ source, error });
  log(`skipped ${source}: ${error}`);
};

/** Outputs that exist: fresh ones made the same way are skipped; ones made another way are refused without --force. */
function plan(inputs: string[], names: Map<string, string>, o: CollectionOptions, sameMaker: (out: string) => string | null) {
  const todo: string[] = [];
  const skip: string[] = [];
  const conflicts: string[] = [];
  for (const input of inputs) {
    const out = join(o.outDir, names.get(input)!);
    if (!o.force && isFresh(out, input)) {
      const other = sameMaker(out);
      if (other) conflicts.push(`${out}: ${other}`);
      else skip.push(input);
    } else todo.push(input);
  }
  if (conflicts.length)
    throw new Error(`${conflicts.length} existing output(s) in ${o.outDir} were not made by this model and precision; use --force to replace them, or another -o:\n  ${conflicts.join('\n  ')}`);
  return { todo, skip };
}

export async function encodeCollection(gpu: Gpu, m: LoadedModel, inputs: string[], o: EncodeCollectionOptions): Promise<{ index: CollectionIndex; summary: Summary }> {
  const t0 = performance.now();
  ensureOutDir(o.outDir);
  const names = outputNames(inputs, (i) => `${stem(i)}.latent.safetensors`);
  const index = readIndex(o.outDir, 'latents');
  const entries = new Map(index.entries.map((e) => [e.output, e]));
  const { todo, skip } = plan(inputs, names, o, (out) => {
    try {
      const l = readLatentFile(out);
      return l.meta.model === m.name && l.precision === o.precision ? null : `made by ${l.meta.model} as ${l.precision}`;
    } catch (e) {
      return (e as Error).message;
    }
  });
  // A skipped output without an index entry (killed between the rename and the index write) gets one.
  for (const input of skip) if (!entries.has(names.get(input)!)) entries.set(names.get(input)!, latentEntry(input, join(o.outDir, names.get(input)!), m));

  const progress = new Progress(todo.length, o.log);
  const save = () => writeIndex(o.outDir, { ...index, entries: [...entries.values()] });
  // Each image is read once here, to learn its prepared size and to report unreadable ones before
  // any GPU work, and again when its batch runs, so memory holds one batch of images at a time.
  const sized: { input: string; key: string }[] = [];
  for (const input of todo) {
    try {
      const { image, warnings } = readPng(input);
      warnings.forEach((w) => o.log(`warning: ${input}: ${w}`));
      const p = prepareImage(image, o.prepare, m.model.downscale, input);
      sized.push({ input, key: `${p.image.width}x${p.image.height}` });
    } catch (e) {
      fail(index, o.log, input, e);
      progress.tick(1, `failed ${input}`);
    }
  }
  for (const batch of batchesBySize(sized, (s) => s.key, o.batch)) {
    const images = batch.flatMap(({ input, key }) => {
      try {
        const { image: raw } = readPng(input);
        const p = prepareImage(raw, o.prepare, m.model.downscale, input);
        if (`${p.image.width}x${p.image.height}` !== key) throw new Error(`${input}: changed size while the run was going (was ${key})`);
        return [{ input, raw, ...p }];
      } catch (e) {
        fail(index, o.log, input, e); // changed since it was sized
        return [];
      }
    });
    if (!images.length) continue;
    const { width: W, height: H } = images[0].image;
    const x = gpu.upload(concat(images.map((i) => toTensorData(i.image))), [images.length, H, W, 3], 'images');
    const dist = m.model.encode(x);
    x.release();
    const [, h, w, c] = dist.mean.shape;
    const mean = nhwcToNchw(await dist.mean.read(), dist.mean.shape);
    dist.release();
    const stored: StoredLatent[] = [];
    for (const [i, im] of images.entries()) {
      const data = mean.slice(i * c * h * w, (i + 1) * c * h * w).map((v) => Math.fround(v * m.model.scalingFactor));
      const out = join(o.outDir, names.get(im.input)!);
      const latent: StoredLatent = { data, shape: [1, c, h, w], precision: o.precision, meta: latentMeta(m, { source: im.input, sourceSize: [im.raw.width, im.raw.height], crop: im.crop, resize: im.resize, sampling: 'mode' }) };
      writeLatentFile(out, latent, { force: true }); // temporary name, then renamed
      outputWritten();
      stored.push({ ...latent, data: roundTrip(data, latent.shape, o.precision) });
      entries.set(names.get(im.input)!, latentEntry(im.input, out, m, [W, H], [im.raw.width, im.raw.height]));
    }
    for (const d of o.report) {
      const decoded = await d.decode(stored, images.map((im) => im.input));
      decoded.forEach((img, i) => {
        const e = entries.get(names.get(images[i].input)!)!;
        e.quality = { ...e.quality, [d.label]: { psnr: psnr(images[i].image, img), ssim: ssimRgb(images[i].image, img) } };
      });
    }
    save();
    progress.tick(batch.length, `${W}x${H} x${images.length}`);
  }
  index.entries = [...entries.values()];
  const summary = summarize(index, todo.length - index.failed.length, skip.length, (performance.now() - t0) / 1000, o.report.length > 0);
  index.summary = summary;
  writeIndex(o.outDir, index);
  return { index, summary };
}

function latentEntry(input: string, out: string, m: LoadedModel, size?: [number, number], sourceSize?: [number, number]): IndexEntry {
  const l = readLatentFile(out);
  const [, , h, w] = l.shape;
  return {
    source: input,
    output: basename(out),
    model: l.meta.model,
    latent_space: l.meta.latentSpace,
    precision: l.precision,
    size: size ?? [w * m.model.downscale, h * m.model.downscale],
    source_size: sourceSize ?? l.meta.sourceSize,
    latent_shape: l.shape,
    source_bytes: statSync(input).size,
    output_bytes: statSync(out).size,
    sha256: sha256File(out),
  };
}

/**
 * The original a latent was encoded from, prepared as it was (its metadata records the source path
 * and the crop and resize applied), to measure a decode against; undefined when it is not at hand.
 */
export function originalOf(latent: StoredLatent): RgbImage | undefined {
  const { source, crop, resize } = latent.meta;
  if (!source || !existsSync(source)) return undefined;
  const size = resize ? /^(\d+)x(\d+)/.exec(resize) : null;
  return prepareImage(readPng(source).image, { centerCrop: !!crop, resize: size ? [Number(size[1]), Number(size[2])] : undefined }, 1, source).image;
}

export async function decodeCollection(decoder: BatchDecoder, latentFiles: string[], o: CollectionOptions & { report?: boolean }): Promise<{ index: CollectionIndex; summary: Summary }> {
  const t0 = performance.now();
  ensureOutDir(o.outDir);
  const names = outputNames(latentFiles, (i) => `${stem(i)}.png`);
  const index = readIndex(o.outDir, 'images');
  const entries = new Map(index.entries.map((e) => [e.output, e]));
  // A PNG carries no model: the index says which decoder wrote it (none: not ours, refused).
  const { todo, skip } = plan(latentFiles, names, o, (out) => {
    const e = entries.get(basename(out));
    return e?.model === decoder.model ? null : e ? `decoded by ${e.model}` : 'not in index.json';
  });
  const progress = new Progress(todo.length, o.log);
  const latents: { input: string; latent: StoredLatent }[] = [];
  for (const input of todo) {
    try {
      latents.push({ input, latent: readLatentFile(input) });
    } catch (e) {
      fail(index, o.log, input, e);
      progress.tick(1, `failed ${input}`);
    }
  }
  for (const batch of batchesBySize(latents, (l) => `${l.latent.shape}|${l.latent.meta.latentSpace}`, o.batch)) {
    let images: RgbImage[];
    try {
      images = await decoder.decode(batch.map((b) => b.latent), batch.map((b) => b.input));
    } catch (e) {
      // An incompatible latent fails its batch: retry its members one by one so only it is lost.
      if (batch.length === 1) {
        fail(index, o.log, batch[0].input, e);
        progress.tick(1, `failed ${batch[0].input}`);
        continue;
      }
      images = [];
      for (const b of batch) {
        try {
          images.push((await decoder.decode([b.latent], [b.input]))[0]);
        } catch (e1) {
          fail(index, o.log, b.input, e1);
          images.push(undefined as unknown as RgbImage);
        }
      }
    }
    batch.forEach((b, i) => {
      const img = images[i];
      if (!img) return;
      const name = names.get(b.input)!;
      const out = join(o.outDir, name);
      writePng(out, img, { force: true }); // temporary name, then renamed
      outputWritten();
      const [, , h, w] = b.latent.shape;
      const entry: IndexEntry = {
        source: b.input, output: name, model: decoder.model, latent_space: b.latent.meta.latentSpace, precision: b.latent.precision,
        size: [img.width, img.height], source_size: b.latent.meta.sourceSize, latent_shape: [1, b.latent.shape[1], h, w],
        source_bytes: statSync(b.input).size, output_bytes: statSync(out).size, sha256: sha256File(out),
      };
      if (o.report) {
        const original = originalOf(b.latent);
        if (original && original.width === img.width && original.height === img.height) entry.quality = { [decoder.label]: { psnr: psnr(original, img), ssim: ssimRgb(original, img) } };
        else o.log(`no original to measure ${b.input} against (${b.latent.meta.source ?? 'no source recorded'})`);
      }
      entries.set(name, entry);
    });
    writeIndex(o.outDir, { ...index, entries: [...entries.values()] });
    progress.tick(batch.length, `${batch[0].latent.shape[3]}x${batch[0].latent.shape[2]} latents x${batch.length}`);
  }
  index.entries = [...entries.values()];
  const summary = summarize(index, todo.length - index.failed.length, skip.length, (performance.now() - t0) / 1000, !!o.report);
  index.summary = summary;
  writeIndex(o.outDir, index);
  return { index, summary };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
