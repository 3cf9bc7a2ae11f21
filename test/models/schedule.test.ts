import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/io/safetensors.js';
import { consistencySchedule } from '../../src/models/schedule.js';
import { FIXTURES } from '../helpers.js';

describe('consistency schedule', () => {
  const ref = readSafetensors(join(FIXTURES, 'models/tiny-consistency/schedule.safetensors')).tensors;
  const ours = consistencySchedule();
  const pairs: [string, Float32Array][] = [
    ['betas', ours.betas],
    ['alphas_cumprod', ours.alphasCumprod],
    ['sqrt_alphas_cumprod', ours.sqrtAlphasCumprod],
    ['sqrt_one_minus_alphas_cumprod', ours.sqrtOneMinusAlphasCumprod],
    ['c_skip', ours.cSkip],
    ['c_out', ours.cOut],
    ['c_in', ours.cIn],
  ];
  for (const [name, table] of pairs)
    it(`${name} equals diffusers' float32 table bit for bit`, () => {
      const r = ref.get(name)!.data;
      let mism = 0;
      for (let i = 0; i < table.length; i++) if (table[i] !== r[i]) mism++;
      expect(mism).toBe(0);
    });
});
