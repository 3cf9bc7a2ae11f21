// The checkpoints `sdvae weights` knows how to fetch: where each file comes from, where it goes, and
// the size and sha256 it must have.
//
// A size or hash is written here only when it has been published (the hub's LFS pointer for the file);
// none is made up. Where one is unknown the field is left out, and verification then reports the
// sha256 it computed and says that it could not be checked against a published value. Small files
// such as config.json are not LFS files, so the hub publishes no sha256 for them.
//
// Every entry downloads into its own folder under --dir, named after the entry, laid out as a
// diffusers model folder (config.json + diffusion_pytorch_model[.fp16].safetensors), which is what
// `--vae DIR` and `--consistency DIR` load (see src/io/weights.ts).

/** One file to download. */
export interface ManifestFile {
  /** Where to download it from. */
  url: string;
  /** Where it goes, relative to the destination folder (--dir): `<entry name>/<file name>`. */
  path: string;
  /** Size in bytes, when published. */
  bytes?: number;
  /** Lowercase hex sha256 of the whole file, when published. */
  sha256?: string;
  /** Weight files only: the precision. Files without one (config.json) are fetched with either. */
  variant?: 'fp32' | 'fp16';
}

export interface ManifestEntry {
  /** The name given to `sdvae weights fetch NAME`; also the folder the files go into. */
  name: string;
  /** Which option loads the folder: `--vae DIR`, `--consistency DIR` or `--taesd DIR`. */
  kind: 'vae' | 'consistency' | 'taesd';
  description: string;
  files: readonly ManifestFile[];
}

export type Manifest = readonly ManifestEntry[];

/** The Hugging Face hub: https://huggingface.co/<repo>/resolve/<revision>/<path> serves a file (the
 *  hub answers with a redirect to its CDN). `--base-url` or $HF_ENDPOINT replace this host (mirrors). */
export const HUB = 'https://huggingface.co';

function hubUrl(repo: string, path: string): string {
  return `${HUB}/${repo}/resolve/main/${path}`;
}

/** The Stable Diffusion 1.5 VAE was published in runwayml/stable-diffusion-v1-5, under vae/. RunwayML
 *  has since removed that repository from the hub (2024); this is the copy the diffusers docs now use.
 *  The sizes and hashes below are the ones published for runwayml's files. Should the copy serve a
 *  different file, the fetch fails and names both hashes; it never installs an unverified file. */
const SD15_REPO = 'stable-diffusion-v1-5/stable-diffusion-v1-5';

export const MANIFEST: Manifest = [
  {
    name: 'sd-v1-5-vae',
    kind: 'vae',
    description: 'Stable Diffusion 1.5 VAE (AutoencoderKL), originally runwayml/stable-diffusion-v1-5, vae/',
    files: [
      { url: hubUrl(SD15_REPO, 'vae/config.json'), path: 'sd-v1-5-vae/config.json' },
      {
        url: hubUrl(SD15_REPO, 'vae/diffusion_pytorch_model.safetensors'),
        path: 'sd-v1-5-vae/diffusion_pytorch_model.safetensors',
        bytes: 334_643_268,
        sha256: 'b4d2b5932bb4151e54e694fd31ccf51fca908223c9485bd56cd0e1d83ad94c49',
        variant: 'fp32',
      },
      {
        url: hubUrl(SD15_REPO, 'vae/diffusion_pytorch_model.fp16.safetensors'),
        path: 'sd-v1-5-vae/diffusion_pytorch_model.fp16.safetensors',
        bytes: 167_335_342,
        sha256: '4fbcf0ebe55a0984f5a5e00d8c4521d52359af7229bb4d81890039d2aa16dd7c',
        variant: 'fp16',
      },
    ],
  },
  {
    name: 'sd-vae-ft-mse',
    kind: 'vae',
    description: 'stabilityai/sd-vae-ft-mse: the SD 1.x VAE with its decoder fine-tuned (MSE-weighted loss)',
    // Size and sha256 not recorded here: verification reports the computed sha256 as unchecked.
    files: [
      { url: hubUrl('stabilityai/sd-vae-ft-mse', 'config.json'), path: 'sd-vae-ft-mse/config.json' },
      {
        url: hubUrl('stabilityai/sd-vae-ft-mse', 'diffusion_pytorch_model.safetensors'),
        path: 'sd-vae-ft-mse/diffusion_pytorch_model.safetensors',
        variant: 'fp32',
      },
    ],
  },
  {
    name: 'consistency-decoder',
    kind: 'consistency',
    description: "openai/consistency-decoder (diffusers' ConsistencyDecoderVAE): DALL-E 3's decoder for SD latents",
    // Size and sha256 not recorded here: verification reports the computed sha256 as unchecked.
    files: [
      { url: hubUrl('openai/consistency-decoder', 'config.json'), path: 'consistency-decoder/config.json' },
      {
        url: hubUrl('openai/consistency-decoder', 'diffusion_pytorch_model.safetensors'),
        path: 'consistency-decoder/diffusion_pytorch_model.safetensors',
        variant: 'fp32',
      },
      {
        url: hubUrl('openai/consistency-decoder', 'diffusion_pytorch_model.fp16.safetensors'),
        path: 'consistency-decoder/diffusion_pytorch_model.fp16.safetensors',
        variant: 'fp16',
      },
    ],
  },
  {
    name: 'taesd',
    kind: 'taesd',
    description: "madebyollin/taesd (diffusers' AutoencoderTiny, MIT): the fast preview decoder for SD latents",
    // Size and sha256 not recorded here: verification reports the computed sha256 as unchecked.
    files: [
      { url: hubUrl('madebyollin/taesd', 'config.json'), path: 'taesd/config.json' },
      {
        url: hubUrl('madebyollin/taesd', 'diffusion_pytorch_model.safetensors'),
        path: 'taesd/diffusion_pytorch_model.safetensors',
        variant: 'fp32',
      },
    ],
  },
];

export function findEntry(manifest: Manifest, name: string): ManifestEntry | undefined {
  return manifest.find((e) => e.name === name);
}

/** The files `fetch` downloads: the files without a variant (config.json) plus the weights of one
 *  precision (fp32 unless `fp16`). Throws if the entry has no weights of that precision. */
export function selectFiles(entry: ManifestEntry, fp16: boolean): ManifestFile[] {
  const variant = fp16 ? 'fp16' : 'fp32';
  if (!entry.files.some((f) => f.variant === variant)) throw new Error(`${entry.name}: no ${variant} weights published`);
  return entry.files.filter((f) => f.variant === undefined || f.variant === variant);
}

/** Moves a URL onto another host (a mirror, or a local test server), keeping its path and query:
 *  withBaseUrl('https://huggingface.co/a/resolve/main/b', 'http://127.0.0.1:8080/hf')
 *    === 'http://127.0.0.1:8080/hf/a/resolve/main/b'. */
export function withBaseUrl(url: string, base: string | undefined): string {
  if (!base) return url;
  const u = new URL(url);
  return base.replace(/\/+$/, '') + u.pathname + u.search;
}
