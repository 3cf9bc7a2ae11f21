// The full-size TAESD (AutoencoderTiny default config, madebyollin/taesd) built from the reference
// manifest (every real key name and shape, zero values): every key is consumed, the parameter count
// is the manifest's 2,445,063, and a wrong checkpoint gets one error listing every problem. No GPU:
// uploads go to a stand-in that records their sizes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AutoencoderTiny, parseAutoencoderTinyConfig } from '../../src/models/autoencoder_tiny.js';
import { f32Entry, ParamLoader } from '../../src/models/params.js';
import { fakeGpu, FIXTURES } from '../helpers.js';

const manifest: { config: Record<string, unknown>; keys: { key: string; shape: number[] }[]; params: number } = JSON.parse(readFileSync(join(FIXTURES, 'manifests', 'taesd.json'), 'utf8'));
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

function build(keys: { key: string; shape: number[] }[], what: string) {
  const map = new Map(keys.map((k) => [k.key, k]));
  let taken = 0;
  const p = ParamLoader.from((n) => {
    const k = map.get(n);
    return k && f32Entry(k.shape, () => ((taken += numel(k.shape)), new Float32Array(numel(k.shape))));
  }, map.keys(), what);
  const { gpu } = fakeGpu();
  const model = new AutoencoderTiny(gpu, p, parseAutoencoderTinyConfig(manifest.config, 'taesd.json'));
  return { p, model, taken: () => taken };
}

describe('full-size TAESD (taesd manifest)', () => {
  it(`consumes all ${manifest.keys.length} keys (${manifest.params} parameters)`, () => {
    const { p, model, taken } = build(manifest.keys, 'taesd');
    p.finish();
    expect(p.consumedCount).toBe(manifest.keys.length);
    expect(taken()).toBe(manifest.params);
    expect(manifest.keys.reduce((n, k) => n + numel(k.shape), 0)).toBe(2_445_063);
    // The Sequentials as diffusers builds them for blocks [1, 3, 3, 3] / [3, 3, 3, 1].
    expect(model.encoder.layers.length).toBe(15);
    expect(model.decoder.layers.length).toBe(19);
    expect(model.decoder.layers[1]).toBe('relu');
    expect(model.decoder.layers.filter((l) => l === 'upsample').length).toBe(3);
    expect(model.downscale).toBe(8);
  });

  it('lists every missing, unexpected and wrong-shape tensor in one error', () => {
    const keys = manifest.keys
      .filter((k) => k.key !== 'decoder.layers.18.bias')
      .map((k) => (k.key === 'encoder.layers.2.weight' ? { ...k, shape: [64, 64, 1, 1] } : k));
    keys.push({ key: 'encoder.layers.2.bias', shape: [64] });
    const { p } = build(keys, 'broken.safetensors');
    expect(() => p.finish()).toThrow(/^broken\.safetensors: 3 parameter problem/);
    try {
      p.finish();
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('missing: decoder.layers.18.bias [3]');
      expect(msg).toContain('wrong shape: encoder.layers.2.weight is [64,64,1,1], expected [64,64,3,3]');
      // The stride-2 convs have no bias: a checkpoint that has one is not this model.
      expect(msg).toContain('unexpected: encoder.layers.2.bias');
    }
  });
});
