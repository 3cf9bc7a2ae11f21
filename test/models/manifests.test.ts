// Full-size architectures built from the reference manifests (every real key name and shape, zero
// values): every checkpoint key is consumed, and a wrong checkpoint gets one error listing every
// problem. Runs without a GPU: uploads go to a stand-in that only records sizes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { legacyAttentionToCurrent } from '../../src/io/weights.js';
import { AutoencoderKL, parseAutoencoderKLConfig } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder, parseConsistencyConfig } from '../../src/models/consistency_decoder.js';
import { f32Entry, ParamLoader } from '../../src/models/params.js';
import { fakeGpu, FIXTURES } from '../helpers.js';

interface Manifest {
  config: Record<string, unknown>;
  keys: { key: string; shape: number[]; numel: number }[];
  num_keys: number;
  total_parameters: number;
  legacy_key_aliases?: Record<string, string>;
}
const manifest = (name: string): Manifest => JSON.parse(readFileSync(join(FIXTURES, 'manifests', name), 'utf8'));

function loaderFrom(keys: { key: string; shape: number[] }[], what: string, rename: (k: string) => string = (k) => k): ParamLoader {
  const map = new Map(keys.map((k) => [rename(k.key), k]));
  return ParamLoader.from((n) => {
    const k = map.get(n);
    return k && f32Entry(k.shape, () => new Float32Array(k.shape.reduce((a, b) => a * b, 1)));
  }, map.keys(), what);
}

describe('full-size SD VAE (sd-vae-ft-mse manifest)', () => {
  const m = manifest('sd-vae-ft-mse.json');

  it(`consumes all ${m.num_keys} keys and uploads every parameter`, () => {
    const { gpu, state } = fakeGpu();
    const p = loaderFrom(m.keys, 'sd-vae-ft-mse');
    new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(m.config, 'manifest'));
    p.finish();
    expect(p.consumedCount).toBe(m.num_keys);
    expect(state.uploaded).toBe(m.total_parameters);
  });

  it('accepts the legacy attention names (query/key/value/proj_attn)', () => {
    const aliases = m.legacy_key_aliases!;
    expect(Object.keys(aliases).length).toBe(16);
    const legacyKeys = m.keys.map((k) => ({ ...k, key: aliases[k.key] ?? k.key }));
    for (const [current, legacy] of Object.entries(aliases)) expect(legacyAttentionToCurrent(legacy)).toBe(current);
    const { gpu } = fakeGpu();
    const p = loaderFrom(legacyKeys, 'legacy', legacyAttentionToCurrent);
    new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(m.config, 'manifest'));
    expect(() => p.finish()).not.toThrow();
  });

  it('lists every missing, unexpected and wrong-shape tensor in one error', () => {
    const keys = m.keys
      .filter((k) => k.key !== 'decoder.conv_out.bias')
      .map((k) => (k.key === 'encoder.conv_in.weight' ? { ...k, shape: [128, 3, 1, 1] } : k));
    keys.push({ key: 'decoder.extra.weight', shape: [1], numel: 1 });
    const { gpu } = fakeGpu();
    const p = loaderFrom(keys, 'broken.safetensors');
    new AutoencoderKL(gpu, p, parseAutoencoderKLConfig(m.config, 'manifest'));
    let msg = '';
    try {
      p.finish();
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/^broken\.safetensors: 3 parameter problem/);
    expect(msg).toContain('missing: decoder.conv_out.bias [3]');
    expect(msg).toContain('wrong shape: encoder.conv_in.weight is [128,3,1,1], expected [128,3,3,3]');
    expect(msg).toContain('unexpected: decoder.extra.weight');
  });
});

describe('full-size consistency decoder (manifest)', () => {
  const m = manifest('consistency-decoder.json');
  it(`consumes all ${m.num_keys} keys (${m.total_parameters} parameters)`, () => {
    const { gpu, state } = fakeGpu();
    const p = loaderFrom(m.keys, 'consistency-decoder');
    new ConsistencyDecoder(gpu, p, parseConsistencyConfig(m.config, 'manifest'));
    p.finish();
    expect(p.consumedCount).toBe(m.num_keys);
    expect(state.uploaded).toBe(m.total_parameters);
  });
});
