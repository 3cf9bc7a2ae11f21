// The `sdvae weights fetch taesd` entry: the hub's real file names for madebyollin/taesd, a diffusers
// folder that --taesd loads, and no invented size or checksum.
import { describe, expect, it } from 'vitest';
import { findEntry, MANIFEST, selectFiles } from '../../src/io/weights_manifest.js';

describe('weights manifest: taesd', () => {
  it('fetches config.json and the fp32 safetensors from madebyollin/taesd into taesd/', () => {
    const e = findEntry(MANIFEST, 'taesd')!;
    expect(e.kind).toBe('taesd');
    expect(selectFiles(e, false).map((f) => [f.url, f.path])).toEqual([
      ['https://huggingface.co/madebyollin/taesd/resolve/main/config.json', 'taesd/config.json'],
      ['https://huggingface.co/madebyollin/taesd/resolve/main/diffusion_pytorch_model.safetensors', 'taesd/diffusion_pytorch_model.safetensors'],
    ]);
    // Not published here: verification reports the computed sha256 as unchecked.
    expect(e.files.every((f) => f.sha256 === undefined && f.bytes === undefined)).toBe(true);
    expect(() => selectFiles(e, true)).toThrow(/taesd: no fp16 weights published/);
  });
});
