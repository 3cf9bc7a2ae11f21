// The page: the library (dist/web/sdvae.js, built from src/core.ts) on navigator.gpu.
//
//   1. a GPU adapter and two models, each from the served folder (`sdvae serve`), a URL, or local files;
//      weights are read tensor by tensor (HTTP Range requests or File.slice), with progress, and kept
//      in the browser's Cache API so a second visit downloads nothing;
//   2. an image (encoded here: the latent's channels and sizes) or a stored .latent.safetensors;
//   3. the stored latent decoded by the SD VAE and by the consistency decoder (and TAESD, when chosen,
//      first: a preview while the slow decoders run): Original | SD VAE | Consistency | TAESD, PSNR/SSIM
//      and times, and a zoom where the SD VAE and the consistency decoder differ most (as `sdvae compare`);
//   4. the inspector: every module's output, from the latent to the image (as `sdvae inspect`).
//
// Every step is the same library call the CLI makes (src/pipeline.ts, src/compare.ts, src/inspect.ts).
// What the page computed is also on window.sdvaeReport (for tests and the curious), and
// document.body.dataset.state says idle | running | done | error.

import * as sd from '../src/core.js';
import { channelGrid, download, el, figure, fileToImage, imageCanvas, kib, latentChannelCanvases, pngBlob, table } from './view.js';

type Kind = 'vae' | 'cons' | 'taesd';

interface ServedModel { name: string; url: string; className: string; weightsFile: string; bytes: number }

interface Model extends sd.LoadedModel {
  /** Element counts of the checkpoint's tensors (the inspector's parameter column). */
  paramCounts: Map<string, number>;
  /** Where it was loaded from; a new choice reloads. */
  from: string;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const state: {
  gpu?: sd.Gpu;
  gpuKind?: string;
  served: ServedModel[];
  models: Partial<Record<'vae' | 'cons', Model>>;
  taesd?: sd.LoadedTaesd & { from: string };
  raw?: sd.RgbImage;
  inputName: string;
  stored?: sd.StoredLatent;
  latentFile?: Uint8Array;
  original?: sd.RgbImage;
  decoded: sd.DecoderResult[];
} = { served: [], models: {}, inputName: '', decoded: [] };

const report: Record<string, unknown> = {};
(window as unknown as { sdvaeReport: typeof report }).sdvaeReport = report;

// ---- messages --------------------------------------------------------------------------------------

function setState(s: 'idle' | 'running' | 'done' | 'error'): void {
  document.body.dataset.state = s;
}

function showError(message: string): void {
  const e = $('error');
  e.textContent = message;
  e.hidden = false;
  report.error = message;
  setState('error');
}

function warn(message: string): void {
  const w = $('warning');
  w.textContent = w.hidden ? message : `${w.textContent}\n${message}`;
  w.hidden = false;
  (report.warnings as string[] | undefined)?.push(message) ?? (report.warnings = [message]);
}

function status(text: string, fraction?: number): void {
  $('run-status').textContent = text;
  if (fraction !== undefined) $<HTMLProgressElement>('run-progress').value = fraction;
}

/** A failure in words a user can act on; out-of-memory says what the run had asked for. */
function explain(e: unknown, what: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/out.of.memory|Out of memory|OOM/i.test(msg)) {
    const s = state.gpu?.pool.getStats();
    const need = s ? ` The run had ${kib(s.peakAllocatedBytes)} of GPU buffers allocated at its peak (limit per buffer: ${kib(state.gpu!.device.limits.maxBufferSize)}).` : '';
    return `${what}: the GPU ran out of memory.${need} Try a smaller image, close other tabs, or a machine with more GPU memory.\n(${msg})`;
  }
  return `${what}: ${msg}`;
}

// ---- the GPU -------------------------------------------------------------------------------------

async function gpu(): Promise<sd.Gpu> {
  const kind = $<HTMLSelectElement>('adapter-kind').value;
  if (state.gpu && state.gpuKind === kind) return state.gpu;
  if (!('gpu' in navigator) || !navigator.gpu)
    throw new Error('this browser has no WebGPU (navigator.gpu is missing). Use a browser with WebGPU enabled (Chrome or Edge 113+, Safari 26, Firefox 141+ on Windows) on https:// or http://localhost.');
  for (const m of Object.values(state.models)) m?.model.release();
  state.models = {};
  state.gpu?.destroy();
  const adapter = await navigator.gpu.requestAdapter(kind === 'compatibility' ? { featureLevel: 'compatibility' } : { powerPreference: 'high-performance' });
  if (!adapter) throw new Error(`navigator.gpu.requestAdapter(${kind === 'compatibility' ? "{ featureLevel: 'compatibility' }" : ''}) found no GPU adapter: WebGPU is present but has no usable device here (blocklisted driver, or GPU access disabled)`);
  const g = await sd.Gpu.fromAdapter(adapter);
  state.gpu = g;
  state.gpuKind = kind;
  const f = g.features;
  const lim = g.device.limits;
  $('adapter').textContent =
    `WebGPU adapter: ${g.adapterName} (${kind}) · subgroups ${f.subgroups ? `${f.subgroupMinSize}-${f.subgroupMaxSize} lanes` : 'no'} · shader-f16 ${f.f16 ? 'yes' : 'no'} · ` +
    `timestamps ${f.timestamps ? 'yes' : 'no'} · binding ${kib(lim.maxStorageBufferBindingSize)}, buffer ${kib(lim.maxBufferSize)}, ${lim.maxStorageBuffersPerShaderStage} storage buffers per stage`;
  report.adapter = { name: g.adapterName, kind, features: { ...f } };
  return g;
}

// ---- models --------------------------------------------------------------------------------------

async function listServed(): Promise<void> {
  try {
    const res = await fetch('models/index.json');
    if (!res.ok) return;
    state.served = ((await res.json()) as { models: ServedModel[] }).models;
  } catch {
    return; // not served by `sdvae serve`: URL and files still work
  }
  for (const m of state.served) {
    const target = { ConsistencyDecoderVAE: 'cons-served', AutoencoderKL: 'vae-served', AutoencoderTiny: 'taesd-served' }[m.className] ?? '';
    if (target) $(target).append(el('option', { value: m.name, textContent: `${m.name} (${kib(m.bytes)})` }));
  }
  const pick = (id: string) => {
    const s = $<HTMLSelectElement>(id);
    if (s.options.length > 1 && !s.value) s.selectedIndex = 1;
  };
  pick('vae-served');
  pick('cons-served');
  pick('taesd-served');
}

/** The model files chosen for `kind`: local files first, then a URL, then the served folder. */
async function openChoice(kind: Kind): Promise<{ files: sd.ModelFiles; from: string; label: string } | undefined> {
  const fileList = $<HTMLInputElement>(`${kind}-files`).files;
  if (fileList && fileList.length) return { files: await sd.openModelFiles(fileList), from: `files:${[...fileList].map((f) => f.name).join(',')}`, label: fileList[0]!.name };
  const cache = $<HTMLInputElement>('use-cache').checked && 'caches' in window ? await caches.open('sdvae-weights').catch(() => null) : null;
  const onCacheError = (url: string, e: Error) => warn(`The browser cache refused to store ${url} (${e.name}: ${e.message}); it will be downloaded again next time.`);
  const url = $<HTMLInputElement>(`${kind}-url`).value.trim();
  if (url) return { files: await sd.openModelUrl(url, { cache, onCacheError }), from: `url:${url}`, label: url.replace(/\/+$/, '').split('/').slice(-3).join('/') };
  const served = state.served.find((m) => m.name === $<HTMLSelectElement>(`${kind}-served`).value);
  if (served) return { files: await sd.openModelUrl(new URL(served.url, location.href).href, { cache, onCacheError, weightsFile: served.weightsFile }), from: `served:${served.name}`, label: served.name };
  return undefined;
}

/** The progress bar and label of a model row, fed by the loader. */
function progressOf(kind: Kind): (p: sd.LoadProgress) => void {
  const bar = $<HTMLProgressElement>(`${kind}-progress`);
  const label = $(`${kind}-status`);
  return (p) => {
    bar.value = p.loaded / p.total;
    label.textContent = `${kib(p.loaded)} of ${kib(p.total)}${p.cached ? ` (${kib(p.cached)} from the cache)` : ''}`;
  };
}

/** TAESD, when a folder, URL or files are chosen for it. */
async function loadTaesd(): Promise<(sd.LoadedTaesd & { from: string }) | undefined> {
  const g = await gpu();
  let choice;
  try {
    choice = await openChoice('taesd');
  } catch (e) {
    throw new Error(explain(e, 'loading TAESD'));
  }
  if (!choice) return undefined;
  if (state.taesd?.from === choice.from) return state.taesd;
  state.taesd?.model.release();
  state.taesd = undefined;
  let model;
  try {
    model = await sd.loadAutoencoderTinyFrom(g, choice.files, { onProgress: progressOf('taesd') });
  } catch (e) {
    throw new Error(explain(e, `loading TAESD from ${choice.files.name}`));
  }
  const c = model.config;
  state.taesd = { kind: 'taesd', model, name: `AutoencoderTiny:${choice.label}`, latentSpace: sd.latentSpaceId(c.latent_channels, model.downscale, model.sdScalingFactor), from: choice.from };
  (report.models as Record<string, unknown>).taesd = { name: state.taesd.name, bytes: choice.files.weights.source.size };
  return state.taesd;
}

/**
 * The latent shape (NHWC) run()'s decodes will have, for a model of this downscale and latent channels:
 * the image's, as encode() will prepare it, or the stored latent's; undefined when unknown or not decodable.
 */
function nextLatentShape(downscale: number, channels: number): number[] | undefined {
  if (state.raw) {
    const [w, h] = sd.preparedSize(state.raw.width, state.raw.height, imageOptions());
    return w % downscale || h % downscale ? undefined : [1, h / downscale, w / downscale, channels];
  }
  if (!state.stored) return undefined;
  const [n, c, h, w] = state.stored.shape;
  return n === 1 && c === channels ? [1, h, w, c] : undefined;
}

/** The sampler options decodeAll gives the consistency decoder (its plan depends on them). */
function samplerOptions(): { steps: number; seed: number } {
  return { steps: Number($<HTMLInputElement>('steps').value) || 2, seed: Number($<HTMLInputElement>('seed').value) || 0 };
}

const imageOptions = (): sd.PrepareOptions => ({ centerCrop: $<HTMLInputElement>('center-crop').checked, resize: parseResize($<HTMLInputElement>('resize').value) });

/**
 * Loads the chosen model (or keeps the one loaded from the same place). `prepare`: plan its first decode
 * of nextLatentShape() while the weights download, so its pipelines compile meanwhile, not in the decode.
 */
async function loadModel(kind: 'vae' | 'cons', prepare = false): Promise<Model | undefined> {
  const what = kind === 'vae' ? 'SD VAE' : 'consistency decoder';
  const g = await gpu();
  let choice;
  try {
    choice = await openChoice(kind);
  } catch (e) {
    throw new Error(explain(e, `loading the ${what}`));
  }
  if (!choice) return undefined;
  const have = state.models[kind];
  if (have && have.from === choice.from) return have;
  have?.model.release();
  delete state.models[kind];
  const label = $(`${kind}-status`);
  const t0 = performance.now();
  const onProgress = progressOf(kind);
  let model;
  let prepared: number[] | null = null;
  const shapeFor = (m: sd.AutoencoderKL | sd.ConsistencyDecoder) => (prepare ? nextLatentShape(m.downscale, m.config.latent_channels) : undefined);
  try {
    model = kind === 'vae'
      ? await sd.loadAutoencoderKLFrom(g, choice.files, { onProgress }, async (vae) => {
          const shape = shapeFor(vae);
          if (shape) await vae.prepareDecode((prepared = shape));
        })
      : await sd.loadConsistencyDecoderFrom(g, choice.files, { onProgress }, async (cd) => {
          const shape = shapeFor(cd);
          if (shape) await cd.prepareDecode((prepared = shape), samplerOptions());
        });
  } catch (e) {
    throw new Error(explain(e, `loading the ${what} from ${choice.files.name}`));
  }
  const cached = choice.files.weights.source.fromCache ?? 0;
  label.textContent += ` · ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  const channels = model.config.latent_channels;
  const paramCounts = new Map([...choice.files.weights.tensors.values()].map((t) => [t.name, t.shape.reduce((a, b) => a * b, 1)]));
  const m: Model = {
    kind: kind === 'vae' ? 'vae' : 'consistency',
    model,
    name: `${kind === 'vae' ? 'AutoencoderKL' : 'ConsistencyDecoderVAE'}:${choice.label}`,
    latentSpace: sd.latentSpaceId(channels, model.downscale, model.scalingFactor),
    paramCounts,
    from: choice.from,
  };
  state.models[kind] = m;
  (report.models as Record<string, unknown>)[kind] = { name: m.name, bytes: choice.files.weights.source.size, fromCache: cached, mode: (choice.files.weights.source as Partial<sd.HttpSource>).mode ?? 'file', prepared };
  return m;
}
report.models = {};

/** `prepare`: plan each newly loaded decoder's first decode (run() knows its input by then). */
async function loadModels(prepare = false): Promise<{ vae?: Model; cons?: Model; taesd?: sd.LoadedTaesd }> {
  const vae = await loadModel('vae', prepare);
  const cons = await loadModel('cons', prepare);
  const taesd = await loadTaesd();
  const all = [vae, cons, taesd].filter((m) => m !== undefined);
  const other = all.find((m) => m.latentSpace !== all[0]!.latentSpace);
  if (other) throw new Error(`${all[0]!.name} (latent space ${all[0]!.latentSpace}) and ${other.name} (${other.latentSpace}) do not share a latent space`);
  return { vae, cons, taesd };
}

// ---- input ---------------------------------------------------------------------------------------

async function takeFile(file: File): Promise<void> {
  state.inputName = file.name;
  state.stored = undefined;
  state.raw = undefined;
  if (file.name.endsWith('.safetensors')) {
    const st = await sd.SafetensorsSource.open(sd.blobSource(file));
    const { metadata, tensors } = await st.readAll();
    state.stored = sd.latentFromTensors(file.name, metadata, tensors);
    state.latentFile = new Uint8Array(await file.arrayBuffer());
    status(`stored latent ${file.name}: [${state.stored.shape}] ${state.stored.precision}, from ${state.stored.meta.model}`);
  } else {
    state.raw = await fileToImage(file);
    status(`image ${file.name}: ${state.raw.width}x${state.raw.height}`);
  }
}

function parseResize(v: string): [number, number] | undefined {
  if (!v.trim()) return undefined;
  const m = /^(\d+)(?:x(\d+))?$/.exec(v.trim());
  if (!m) throw new Error(`resize: expected WxH or N, got "${v}"`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

async function readLatentBytes(bytes: Uint8Array, name: string): Promise<sd.StoredLatent> {
  const { metadata, tensors } = await (await sd.SafetensorsSource.open(sd.bytesSource(bytes, name))).readAll();
  return sd.latentFromTensors(name, metadata, tensors);
}

// ---- encode, decode, compare -------------------------------------------------------------------------

async function encode(g: sd.Gpu, vae: Model): Promise<void> {
  const raw = state.raw!;
  const prep = sd.prepareImage(raw, imageOptions(), vae.model.downscale, state.inputName);
  state.original = prep.image;
  status(`encoding ${prep.image.width}x${prep.image.height}`, 0.05);
  const t0 = performance.now();
  const latent = await sd.encodeImage(g, vae, prep.image);
  const seconds = (performance.now() - t0) / 1000;
  const precision = $<HTMLSelectElement>('precision').value as sd.LatentPrecision;
  const meta = sd.latentMeta(vae, { source: state.inputName, sourceSize: [raw.width, raw.height], crop: prep.crop, resize: prep.resize, sampling: 'mode' });
  // Stored and read back, exactly as `sdvae compare` does: the decoders see the stored precision.
  const name = `${state.inputName.replace(/\.[^.]+$/, '')}.latent.safetensors`;
  state.latentFile = sd.encodeLatentFile({ ...latent, precision, meta }, name);
  state.stored = await readLatentBytes(state.latentFile, name);
  report.encode = { seconds, size: [prep.image.width, prep.image.height], shape: latent.shape, precision, latent: Array.from(state.stored.data) };
}

function showLatent(pngBytes: number | undefined): void {
  const s = state.stored!;
  const [, , h, w] = s.shape;
  $('latent-channels').replaceChildren(...latentChannelCanvases(s.data, s.shape, Math.max(1, Math.floor(128 / h))));
  const f = state.models.vae?.model.downscale ?? 8; // image side / latent side
  const rgb = 3 * h * f * w * f;
  const rows: (string | number)[][] = [];
  if (pngBytes !== undefined) rows.push(['PNG', kib(pngBytes), `${(rgb / pngBytes).toFixed(1)}x`]);
  rows.push(['RGB8 pixels', kib(rgb), '1x']);
  for (const p of ['fp32', 'fp16', 'u8'] as const) rows.push([`latent ${p}${p === s.precision ? ' (stored)' : ''}`, kib(sd.latentBytes(s.shape, p)), `${(rgb / sd.latentBytes(s.shape, p)).toFixed(0)}x`]);
  $('sizes').replaceWith(Object.assign(table(['what', 'bytes', 'vs RGB8'], rows), { id: 'sizes' }));
  $('latent').hidden = false;
}

async function decodeAll(g: sd.Gpu, vae: Model | undefined, cons: Model | undefined, taesd: sd.LoadedTaesd | undefined): Promise<void> {
  const stored = state.stored!;
  const decoded: sd.DecoderResult[] = [];
  const { steps, seed } = samplerOptions();
  report.drawn = [];
  let preview: sd.DecoderResult | undefined;
  if (taesd) {
    // The preview: TAESD is ~20x faster than the SD VAE decoder; draw it before the slow ones run.
    status('decoding with TAESD (preview)', 0.1);
    const t0 = performance.now();
    preview = { label: 'TAESD', image: await sd.decodeLatentTaesd(g, taesd, stored, state.inputName), seconds: (performance.now() - t0) / 1000 };
    state.decoded = [preview];
    showResults(steps, seed);
  }
  if (vae) {
    status('decoding with the SD VAE', 0.2);
    const t0 = performance.now();
    const image = await sd.decodeLatent(g, vae, stored, state.inputName);
    decoded.push({ label: 'SD VAE', image, seconds: (performance.now() - t0) / 1000 });
  }
  if (cons) {
    const t0 = performance.now();
    const image = await sd.decodeLatent(g, cons, stored, state.inputName, {
      steps,
      seed,
      onStep: (i, t, n) => status(`consistency decoder: step ${i + 1} of ${n} (t = ${t})`, 0.5 + (0.5 * i) / n),
    });
    decoded.push({ label: 'Consistency', image, seconds: (performance.now() - t0) / 1000 });
  }
  if (preview) decoded.push(preview);
  state.decoded = decoded;
  showResults(steps, seed);
}

function showResults(steps: number, seed: number): void {
  const all = [...(state.original ? [{ label: 'Original', image: state.original }] : []), ...state.decoded];
  const scale = Math.max(1, Math.floor(256 / all[0]!.image.width));
  $('images').replaceChildren(
    ...all.map((d) => {
      const fig = figure(imageCanvas(d.image, scale), `${d.label}${'seconds' in d && d.seconds !== undefined ? ` · ${d.seconds.toFixed(2)} s` : ''}`);
      if (d.label !== 'Original') fig.append(el('button', { textContent: 'Save PNG', onclick: async () => download(await pngBlob(d.image), `${{ 'SD VAE': 'vae', Consistency: 'consistency', TAESD: 'taesd' }[d.label] ?? 'decoded'}.png`) }));
      return fig;
    }),
  );
  (report.drawn as string[]).push(state.decoded.map((d) => d.label).join('+'));
  // The zoom shows where the SD VAE and the consistency decoder differ most (the preview is not compared).
  const main = state.decoded.filter((d) => d.label !== 'TAESD');
  const [a, b] = [main[0], main[main.length - 1]];
  const zoom = a && b && a !== b ? sd.mostDifferentWindow(a.image, b.image) : undefined;
  if (zoom) {
    const factor = Math.max(2, Math.floor(192 / zoom.size));
    $('zoom').replaceChildren(...all.map((d) => figure(imageCanvas(sd.upscaleNearest(sd.crop(d.image, zoom.x, zoom.y, zoom.size, zoom.size), factor)), `${d.label} (x${factor})`)));
  }
  const metrics = state.original ? state.decoded.map((d) => sd.measure(state.original!, d)) : [];
  $('metrics').replaceWith(
    Object.assign(
      table(['decoder', 'PSNR dB', 'SSIM', 'SSIM (luma)', 'time s'], state.decoded.map((d, i) => [d.label, metrics[i]?.psnr.toFixed(2) ?? '-', metrics[i]?.ssim.toFixed(4) ?? '-', metrics[i]?.ssim_luma.toFixed(4) ?? '-', d.seconds!.toFixed(2)])),
      { id: 'metrics' },
    ),
  );
  $('results').hidden = false;
  report.decode = { steps, seed, zoom, decoders: state.decoded.map((d, i) => ({ ...(metrics[i] ?? { decoder: d.label }), seconds: d.seconds, pixels: Array.from(d.image.data) })) };
}

// ---- the inspector ---------------------------------------------------------------------------------

async function inspect(g: sd.Gpu, vae: Model): Promise<void> {
  const image = state.original ?? state.decoded[0]?.image;
  if (!image) throw new Error('inspect: choose an image first (or decode a latent)');
  status('inspecting: one SD VAE encode and decode with every module tapped', 0.1);
  const grids = new Map<string, HTMLCanvasElement>();
  const rows = await sd.inspectModel(g, vae, image, vae.paramCounts, (path, data, shape) => grids.set(path, channelGrid(data, shape)));
  const f = (v: number) => v.toFixed(3);
  $('modules').replaceWith(
    Object.assign(
      table(['module (diffusers path)', 'class', 'shape', 'params', 'GPU ms', 'mean', 'std', 'min', 'max', 'channels'], rows.map((r) => [r.path, r.module, `[${r.shape.join(', ')}]`, r.params, r.gpuMs === undefined ? '-' : r.gpuMs.toFixed(2), f(r.mean), f(r.std), f(r.min), f(r.max), grids.get(r.path) ?? ''])),
      { id: 'modules' },
    ),
  );
  $('inspector').hidden = false;
  report.inspect = rows;
  status(`inspected ${rows.length} modules`, 1);
}

// ---- wiring ------------------------------------------------------------------------------------------

async function guarded(what: string, fn: () => Promise<void>): Promise<void> {
  $('error').hidden = true;
  setState('running');
  try {
    await fn();
    setState('done');
  } catch (e) {
    showError(explain(e, what));
  }
}

async function run(): Promise<void> {
  const g = await gpu();
  if (!state.raw && !state.stored) throw new Error('choose an image or a .latent.safetensors first');
  const { vae, cons, taesd } = await loadModels(true);
  if (state.raw) {
    if (!vae) throw new Error('encoding an image needs the SD VAE: choose one');
    await encode(g, vae);
    showLatent((await pngBlob(state.original!)).size);
  } else showLatent(undefined);
  if (!vae && !cons && !taesd) throw new Error('choose at least one decoder');
  await decodeAll(g, vae, cons, taesd);
  status('done', 1);
}

function init(): void {
  setState('idle');
  const params = new URLSearchParams(location.search);
  if (params.get('adapter')) $<HTMLSelectElement>('adapter-kind').value = params.get('adapter')!;
  $('load').onclick = () => guarded('loading models', async () => void (await loadModels()));
  $('run').onclick = () => guarded('encode and decode', run);
  $('inspect').onclick = () => guarded('inspect', async () => {
    const { vae } = await loadModels();
    if (!vae) throw new Error('the inspector runs the SD VAE: choose one');
    await inspect(await gpu(), vae);
  });
  $('save-latent').onclick = () => state.latentFile && download(new Blob([state.latentFile.slice().buffer]), `${state.inputName.replace(/\.[^.]+$/, '').replace(/\.latent$/, '')}.latent.safetensors`);
  const input = $<HTMLInputElement>('input-file');
  input.onchange = () => input.files?.[0] && guarded('reading the file', () => takeFile(input.files![0]!));
  const drop = $('drop');
  drop.ondragover = (e) => (e.preventDefault(), drop.classList.add('over'));
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void guarded('reading the file', () => takeFile(f));
  };
  void guarded('starting', async () => {
    await listServed();
    await gpu();
  });
}

init();
