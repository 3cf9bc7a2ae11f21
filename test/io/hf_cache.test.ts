// Hub ids resolve in a Hugging Face cache laid out as huggingface_hub writes it (symlinked blobs,
// refs/main), and `weights fetch --hf-cache` writes that same layout from a local stand-in hub.
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWeights } from '../../src/cli/weights.js';
import { ensureDefaultModel, fetchEntryIntoHubCache, hubIdOf } from '../../src/io/default_models.js';
import { hubCacheDir, parseHubId, resolveCheckpointPath } from '../../src/io/hf_cache.js';
import { resolveTaesdPath } from '../../src/io/taesd_path.js';
import { openCheckpoint } from '../../src/io/weights.js';
import type { Manifest } from '../../src/io/weights_manifest.js';
import { FIXTURES } from '../helpers.js';
import { COMMIT, sha256, startHub, type HubServer } from './hub_server.js';

const VAE = join(FIXTURES, 'models/tiny-vae');
const TAESD = join(FIXTURES, 'models/tiny-taesd');

/** Writes a file into a fake cache as the hub does: blobs/<sha256> plus a relative snapshot symlink. */
function cacheFile(cache: string, repo: string, commit: string, path: string, from: string) {
  const root = join(cache, `models--${repo.replace('/', '--')}`);
  const bytes = readFileSync(from);
  const blob = join(root, 'blobs', sha256(bytes));
  mkdirSync(dirname(blob), { recursive: true });
  copyFileSync(from, blob);
  const link = join(root, 'snapshots', commit, path);
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(relative(dirname(link), blob), link);
  mkdirSync(join(root, 'refs'), { recursive: true });
  writeFileSync(join(root, 'refs', 'main'), commit);
  return blob;
}

describe('hub ids and the cache location', () => {
  it('parses ORG/NAME[/SUBFOLDER][@REV] and nothing else', () => {
    expect(parseHubId('stabilityai/sd-vae-ft-mse')).toEqual({ repo: 'stabilityai/sd-vae-ft-mse', subfolder: '', revision: 'main' });
    expect(parseHubId('runwayml/stable-diffusion-v1-5/vae@fp16')).toEqual({ repo: 'runwayml/stable-diffusion-v1-5', subfolder: 'vae', revision: 'fp16' });
    for (const bad of ['/abs/path', 'single', 'a/../b', './x/y']) expect(parseHubId(bad), bad).toBeUndefined();
  });
  it('follows HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/c', HF_HOME: '/h' })).toBe('/c');
    expect(hubCacheDir({ HF_HOME: '/h' })).toBe('/h/hub');
    expect(hubCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/home/u' })).toBe('/x/huggingface/hub');
    expect(hubCacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/huggingface/hub');
  });
});

describe('resolving in a cache tree', () => {
  let cache: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    cache = mkdtempSync(join(tmpdir(), 'sdvae-hub-'));
    env = { HF_HUB_CACHE: cache, HOME: join(cache, 'home') };
    for (const f of ['config.json', 'diffusion_pytorch_model.safetensors']) {
      cacheFile(cache, 'org/tiny-vae', COMMIT, f, join(VAE, f));
      cacheFile(cache, 'org/pipeline', 'c0ffee', `vae/${f}`, join(VAE, f)); // a pipeline repo
    }
    writeFileSync(join(cache, 'models--org--pipeline/snapshots/c0ffee/model_index.json'), '{}');
  });
  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  it('a model repo resolves to its refs/main snapshot, and loads through the symlinks', () => {
    const dir = resolveCheckpointPath('org/tiny-vae', env);
    expect(dir).toBe(join(cache, 'models--org--tiny-vae', 'snapshots', COMMIT));
    expect(lstatSync(join(dir, 'config.json')).isSymbolicLink()).toBe(true);
    const c = openCheckpoint(dir);
    expect(c.names).toContain('decoder.conv_in.weight');
    c.close();
    expect(resolveCheckpointPath(`org/tiny-vae@${COMMIT}`, env)).toBe(dir);
  });
  it('a pipeline repo resolves to its vae/ folder, implicitly or by subfolder', () => {
    const want = join(cache, 'models--org--pipeline', 'snapshots', 'c0ffee', 'vae');
    expect(resolveCheckpointPath('org/pipeline', env)).toBe(want);
    expect(resolveCheckpointPath('org/pipeline/vae', env)).toBe(want);
  });
  it('an id that is not cached, or whose blob is missing, names what was looked for and how to get it', () => {
    expect(() => resolveCheckpointPath('stabilityai/sd-vae-ft-mse', env)).toThrow(/sdvae weights fetch sd-vae-ft-mse --hf-cache/);
    expect(() => resolveCheckpointPath('stable-diffusion-v1-5/stable-diffusion-v1-5', env)).toThrow(/sdvae weights fetch sd-v1-5-vae --hf-cache/);
    expect(() => resolveCheckpointPath('org/absent', env)).toThrow(/org\/absent: no such file or folder, and not in the Hugging Face cache \(looked for .*models--org--absent.*sdvae weights fetch NAME --hf-cache/);
    const blob = cacheFile(cache, 'org/broken', 'b1', 'config.json', join(VAE, 'config.json'));
    cacheFile(cache, 'org/broken', 'b1', 'diffusion_pytorch_model.safetensors', join(VAE, 'config.json'));
    rmSync(join(dirname(blob), sha256(readFileSync(join(VAE, 'config.json')))));
    expect(() => resolveCheckpointPath('org/broken', env)).toThrow(/not in the Hugging Face cache/);
  });
  it('--taesd resolves a hub id in the cache like --vae; madebyollin/taesd falls back to weights/taesd', () => {
    const weights = mkdtempSync(join(tmpdir(), 'sdvae-weights-'));
    try {
      expect(() => resolveTaesdPath('madebyollin/taesd', weights, env)).toThrow(/--taesd madebyollin\/taesd: not in the Hugging Face cache, and .*taesd does not exist; download it with 'sdvae weights fetch taesd'/);
      expect(() => resolveTaesdPath('org/absent', weights, env)).toThrow(/org\/absent: no such file or folder, and not in the Hugging Face cache/);
      mkdirSync(join(weights, 'taesd'));
      expect(resolveTaesdPath('madebyollin/taesd', weights, env)).toBe(join(weights, 'taesd'));
      for (const f of ['config.json', 'diffusion_pytorch_model.safetensors']) cacheFile(cache, 'madebyollin/taesd', '7aed5d', f, join(TAESD, f));
      const snap = join(cache, 'models--madebyollin--taesd', 'snapshots', '7aed5d');
      expect(resolveTaesdPath('madebyollin/taesd', weights, env)).toBe(snap); // the hub cache first
      const c = openCheckpoint(snap);
      expect(c.names).toContain('decoder.layers.0.weight');
      c.close();
      expect(resolveTaesdPath(TAESD, weights, env)).toBe(TAESD);
    } finally {
      rmSync(weights, { recursive: true, force: true });
    }
  });
  it("openai/consistency-decoder falls back to OpenAI's ~/.cache/clip/decoder.pt", () => {
    expect(() => resolveCheckpointPath('openai/consistency-decoder', env)).toThrow(/not in the Hugging Face cache/);
    mkdirSync(join(cache, 'home/.cache/clip'), { recursive: true });
    writeFileSync(join(cache, 'home/.cache/clip/decoder.pt'), 'x');
    expect(resolveCheckpointPath('openai/consistency-decoder', env)).toBe(join(cache, 'home/.cache/clip/decoder.pt'));
  });
});

describe('fetching into the cache from a stand-in hub on 127.0.0.1', () => {
  let hub: HubServer;
  let cache: string;
  const saved = { ...process.env };
  const files = new Map<string, Uint8Array>();
  for (const f of ['config.json', 'diffusion_pytorch_model.safetensors']) files.set(`/org/pipe/resolve/main/vae/${f}`, new Uint8Array(readFileSync(join(VAE, f))));
  const weights = files.get('/org/pipe/resolve/main/vae/diffusion_pytorch_model.safetensors')!;
  const manifest = (base: string): Manifest => [
    {
      name: 'tiny',
      kind: 'vae',
      description: 'the tiny VAE',
      files: [
        { url: `${base}/org/pipe/resolve/main/vae/config.json`, path: 'tiny/config.json' },
        { url: `${base}/org/pipe/resolve/main/vae/diffusion_pytorch_model.safetensors`, path: 'tiny/diffusion_pytorch_model.safetensors', bytes: weights.length, sha256: sha256(weights), variant: 'fp32' },
      ],
    },
  ];
  beforeAll(async () => {
    hub = await startHub(files);
    cache = mkdtempSync(join(tmpdir(), 'sdvae-hubfetch-'));
    process.env.HF_HUB_CACHE = cache;
  });
  afterAll(async () => {
    process.env = saved;
    await hub.close();
    rmSync(cache, { recursive: true, force: true });
  });

  it('writes blobs/<sha256>, relative snapshot symlinks and refs/main; a second fetch downloads nothing', async () => {
    const m = manifest(hub.base);
    const id = await fetchEntryIntoHubCache(m[0]);
    expect(id).toBe('org/pipe/vae');
    const root = join(cache, 'models--org--pipe');
    expect(readFileSync(join(root, 'refs/main'), 'utf8')).toBe(COMMIT);
    const link = join(root, 'snapshots', COMMIT, 'vae/diffusion_pytorch_model.safetensors');
    expect(readlinkSync(link)).toBe(`../../../blobs/${sha256(weights)}`);
    expect(sha256(readFileSync(link))).toBe(sha256(weights));
    expect(resolveCheckpointPath('org/pipe/vae')).toBe(dirname(link));
    expect(hub.gets.length).toBe(2);
    await fetchEntryIntoHubCache(m[0]);
    expect(hub.gets.length).toBe(2); // verified blobs are kept, not downloaded again
  });

  it('sdvae weights fetch NAME --hf-cache says which hub id to load', async () => {
    let text = '';
    const sink = { write: (s: string) => void (text += s) };
    expect(await runWeights(['fetch', 'tiny', '--hf-cache'], { manifest: manifest(hub.base), stdout: sink, stderr: sink })).toBe(0);
    expect(text).toMatch(/tiny: in .*; use --vae org\/pipe\/vae/);
  });

  it('a default model that is missing and cannot be downloaded names its files and the command to get them', async () => {
    const offline = manifest('http://127.0.0.1:9'); // nothing listens on port 9
    process.env.HF_HUB_CACHE = mkdtempSync(join(tmpdir(), 'sdvae-hubempty-'));
    await expect(ensureDefaultModel(offline, 'tiny')).rejects.toThrow(/org\/pipe\/vae \(the tiny VAE\) is not in the Hugging Face cache and could not be downloaded.*\nMissing files:\n  http:\/\/127\.0\.0\.1:9\/org\/pipe\/resolve\/main\/vae\/config\.json\n.*sdvae weights fetch tiny --hf-cache/s);
    expect(hubIdOf(offline[0])).toBe('org/pipe/vae');
  });
});
