// SD VAE checkpoint layouts the fixtures do not cover, written here as torch.save would: diffusers'
// diffusion_pytorch_model.bin folders, `vae.` prefixes, nested state_dicts, nn.Parameters, f16
// storages, and a full SD checkpoint whose UNet and text encoder are ignored. Each must give exactly
// the tiny VAE's tensors.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { openCheckpoint } from '../../src/io/weights.js';
import { f32ToF16 } from '../../src/io/dtype.js';
import { decodeParam } from '../../src/models/params.js';
import { FIXTURES } from '../helpers.js';
import { ldmName } from './ldm_names.js';
import { torchSave, type Obj, type TensorSpec } from './torch_writer.js';

const DIR = join(FIXTURES, 'models/tiny-vae');
const ref = SafetensorsFile.open(join(DIR, 'diffusion_pytorch_model.safetensors'));
const names = ref.names();
const f32 = (n: string, parameter = false): TensorSpec => ({ storage: 'FloatStorage', shape: ref.tensors.get(n)!.shape, data: ref.readBytes(n), parameter });
const dict = (entries: [string, Obj][]) => new Map(entries);
const tmp = mkdtempSync(join(tmpdir(), 'sdvae-layouts-'));

function expectTinyVae(path: string, tol = 0) {
  const c = openCheckpoint(path);
  try {
    expect([...c.names].sort()).toEqual([...names].sort());
    for (const n of names) {
      const e = c.source(n)!;
      const got = decodeParam(e.dtype, e.bytes() as Uint8Array);
      const want = ref.readF32(n);
      const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
      expect(worst, n).toBeLessThanOrEqual(tol);
    }
    return c;
  } finally {
    c.close();
  }
}

function save(name: string, obj: Obj): string {
  const p = join(tmp, name);
  writeFileSync(p, torchSave(obj));
  return p;
}

describe('SD VAE layouts', () => {
  it("a diffusers folder with diffusion_pytorch_model.bin (diffusers names, nn.Parameters)", () => {
    const folder = join(tmp, 'bin-folder');
    mkdirSync(folder);
    writeFileSync(join(folder, 'diffusion_pytorch_model.bin'), torchSave(dict(names.map((n) => [n, f32(n, true)]))));
    copyFileSync(join(DIR, 'config.json'), join(folder, 'config.json'));
    const c = expectTinyVae(folder);
    expect(c.weightsFile.endsWith('diffusion_pytorch_model.bin')).toBe(true);
    expect(c.layout).toBe('diffusers');
  });

  it('`vae.` prefixes under nested state_dicts, with training entries dropped', () => {
    const inner = dict([...names.map((n): [string, Obj] => [`vae.${n}`, f32(n)]), ['vae.loss.logvar', f32(names[0])], ['model_ema.decay', f32(names[0])]]);
    expectTinyVae(save('nested.pt', dict([['epoch', 3], ['state_dict', dict([['state_dict', inner]])]])));
  });

  it('f16 storages stay F16 entries with the stored bits', () => {
    const half = (n: string): TensorSpec => ({ storage: 'HalfStorage', shape: ref.tensors.get(n)!.shape, data: new Uint8Array(f32ToF16(ref.readF32(n)).buffer) });
    const p = save('half.bin', dict(names.map((n) => [n, half(n)])));
    const c = openCheckpoint(p);
    const e = c.source(names[0])!;
    expect(e.dtype).toBe('F16');
    expect(e.bytes()).toEqual(new Uint8Array(f32ToF16(ref.readF32(names[0])).buffer));
    c.close();
    expectTinyVae(p, 2e-3); // f16 rounding of |w| < 2
  });

  it('a full SD checkpoint: only first_stage_model.* is the VAE', () => {
    const entries: [string, Obj][] = names.map((n) => [`first_stage_model.${ldmName(n)}`, f32(n)]);
    entries.push(['model.diffusion_model.input_blocks.0.0.weight', f32(names[0])], ['cond_stage_model.transformer.x', f32(names[0])]);
    const c = expectTinyVae(save('full-sd.ckpt', dict([['state_dict', dict(entries)], ['global_step', 1]])));
    expect(c.layout).toBe('ldm');
  });

  it('names the file for a state dict without tensors and for a tensor larger than its storage', () => {
    expect(() => openCheckpoint(save('empty.pt', dict([['epoch', 1]])))).toThrow(/empty\.pt: the state dict holds no tensors/);
    const t = f32(names[0]);
    const big = { ...t, shape: [t.shape.reduce((a, b) => a * b, 1) + 1] };
    expect(() => openCheckpoint(save('big.pt', dict([[names[0], big]])))).toThrow(/big\.pt \(archive\/data\.pkl\): a tensor \[\d+\] has \d+ elements, more than its storage archive\/data\/0/);
  });
});
