import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runInspect } from '../../src/cli/inspect.js';
import { moduleClass } from '../../src/inspect.js';
import { FIXTURES } from '../helpers.js';

let out: string[];
let err: string[];
beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
});
afterEach(() => vi.restoreAllMocks());

describe('sdvae inspect', () => {
  it('one row per module in execution order, with shapes, params and statistics', async () => {
    expect(await runInspect(['--model', join(FIXTURES, 'models/tiny-vae'), '--size', '32', '--json'])).toBe(0);
    const report = JSON.parse(out.join('\n'));
    const rows = report.modules as { path: string; module: string; shape: number[]; params: number; std: number; gpuMs?: number; flops: number }[];
    const paths = rows.map((r) => r.path);
    expect(paths[0]).toBe('encoder.conv_in');
    expect(paths.indexOf('encoder.mid_block.attentions.0')).toBeLessThan(paths.indexOf('decoder.conv_in'));
    const convIn = rows[0];
    expect(convIn).toMatchObject({ module: 'Conv2d', shape: [1, 32, 32, 32], params: 32 * 3 * 9 + 32 });
    expect(rows.find((r) => r.path === 'decoder.up_blocks.1')!.module).toBe('UpDecoderBlock2D');
    for (const r of rows) expect(r.std).toBeGreaterThan(0);
    if (report.timestamps) expect(rows.every((r) => (r.gpuMs ?? 0) > 0)).toBe(true);
  });

  it('the consistency decoder: UNet modules of one step, and --print-wgsl', async () => {
    expect(await runInspect(['--model', join(FIXTURES, 'models/tiny-consistency'), '--size', '32', '--print-wgsl'])).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/decoder_unet\.time_embedding\s+TimestepEmbedding\s+\[1, 128\]/);
    expect(text).toMatch(/decoder_unet\.up_blocks\.1\s+ResnetUpsampleBlock2D\s+\[1, 32, 32, 32\]/);
    expect(err.some((l) => l.startsWith('// ---- pipeline') && l.includes('@compute'))).toBe(true);
  });

  it('names module classes from diffusers paths', () => {
    expect(moduleClass('decoder_unet.down_blocks.0.downsamplers.0')).toBe('ResnetBlock2D');
    expect(moduleClass('decoder.mid_block.attentions.0')).toBe('Attention');
    expect(moduleClass('decoder_unet.mid_block')).toBe('UNetMidBlock2D');
  });
});
