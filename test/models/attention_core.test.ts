// The VAE attention with kᵀ made once per image so that q·kᵀ runs on the GEMM core
// (attentionPolicy.transposeK, models/attention.ts): the reference cases whose sizes take that path
// (C and HW multiples of 32) pass at their tolerance both ways, the transposed-K run is the one that
// builds the transpose and core pipelines, and chunked score rows give the same result as one chunk.

import { describe, expect, it } from 'vitest';
import { runKernelCase } from '../../src/check/kernel_case.js';
import { attentionLimits, attentionPolicy } from '../../src/models/attention.js';
import { kernelIndex, loadCase, useGpu } from '../helpers.js';

const gpu = useGpu();
const cases = kernelIndex().filter((c) => c.op === 'vae_attention');
const aligned = ['vae_attention_c32_16x16', 'vae_attention_c64_8x8', 'vae_attention_c128_8x8'];

describe('attention with kᵀ on the GEMM core', () => {
  it('the aligned cases build the transpose and core pipelines (first: nothing is built before)', async () => {
    const g = gpu();
    const keys: string[] = [];
    g.onShader = (key) => keys.push(key);
    try {
      const c = cases.find((k) => k.case === 'vae_attention_c64_8x8')!;
      const r = await runKernelCase(g, loadCase(c.file));
      expect(r.maxAbsErr).toBeLessThanOrEqual(c.recommended_atol);
    } finally {
      g.onShader = undefined;
    }
    expect(keys).toContain('transpose');
    expect(keys).toContain('matmul.core_views');
    expect(keys).not.toContain('matmul.subgroup'); // the transposed-B kernel
  });

  it('the fixtures hold aligned and unaligned attention cases', () => {
    expect(cases.filter((c) => aligned.includes(c.case)).length).toBe(aligned.length);
    expect(cases.length).toBeGreaterThan(aligned.length);
  });

  for (const c of cases)
    for (const transposeK of [true, false])
      it(`${c.case}, transposeK ${transposeK}`, async () => {
        attentionPolicy.transposeK = transposeK;
        try {
          const r = await runKernelCase(gpu(), loadCase(c.file));
          expect(r.maxAbsErr).toBeLessThanOrEqual(c.recommended_atol);
        } finally {
          attentionPolicy.transposeK = true;
        }
      });

  it('chunks of 8 score rows give the same result as one chunk (c32 16x16: 256 tokens, 32 chunks)', async () => {
    const g = gpu();
    const c = cases.find((k) => k.case === 'vae_attention_c32_16x16')!;
    const file = loadCase(c.file);
    const whole = await runKernelCase(g, file);
    const saved = attentionLimits.scoreBytes;
    attentionLimits.scoreBytes = 8 * 256 * 4;
    try {
      const chunked = await runKernelCase(g, file);
      expect(chunked.maxAbsErr).toBe(whole.maxAbsErr);
      expect(chunked.pass).toBe(true);
    } finally {
      attentionLimits.scoreBytes = saved;
    }
  });
});
