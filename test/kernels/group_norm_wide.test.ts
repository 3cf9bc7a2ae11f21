// Group norm over rows of 1028..2048 channels (src/kernels/group_norm.wide.ts; the consistency UNet's
// up-block norms), against the CPU reference, with SiLU and scale/shift; that the wide kernels are the
// ones that run; banded == unbanded exactly; wider rows (past WIDE_MAX_UNITS) still on the scalar path.

import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.js';
import { groupNorm, groupNormPolicy } from '../../src/kernels/group_norm.js';
import { groupNormRef, type Shape4 } from '../../src/kernels/reference.js';
import { maxAbsDiff } from '../../src/check/compare.js';
import { TOL } from '../tolerances.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 * 2 - 1) * scale);
}

/** groupNormRef, then y·(1 + scale) + shift per (image, channel), then SiLU: ResnetBlock2D's norm2 with scale_shift. */
function ref(x: Float32Array, s: Shape4, g: Float32Array, b: Float32Array, groups: number, silu: boolean, ss?: Float32Array): Float32Array {
  const y = groupNormRef(x, s, g, b, groups, 1e-5, silu && !ss);
  if (!ss) return y;
  const [n, h, w, c] = s;
  for (let i = 0; i < y.length; i++) {
    const img = Math.floor(i / (h * w * c));
    const ch = i % c;
    const v = y[i] * (1 + ss[img * 2 * c + ch]) + ss[img * 2 * c + c + ch];
    y[i] = silu ? v / (1 + Math.exp(-v)) : v;
  }
  void n;
  return y;
}

function problem(g: Gpu, s: Shape4, withSs: boolean) {
  const c = s[3];
  const x = rand(s[0] * s[1] * s[2] * c, 1, 3).map((v, i) => v + (i % c) * 0.01); // channel offsets: groups differ
  const gamma = rand(c, 2, 0.1).map((v) => 1 + v);
  const beta = rand(c, 3, 0.1);
  const ss = withSs ? rand(s[0] * 2 * c, 4, 0.5) : undefined;
  return {
    x, gamma, beta, ss,
    t: { x: g.upload(x, s), gamma: g.upload(gamma, [c]), beta: g.upload(beta, [c]), ss: ss && g.upload(ss, [s[0], 2 * c]) },
  };
}

describe('group norm, wide rows (1028..2048 channels)', () => {
  it('rows wider than 2048 channels stay on the scalar kernels and are right (first: no pipeline is built before)', async () => {
    const g = gpu();
    const s: Shape4 = [1, 2, 3, 2176];
    const p = problem(g, s, false);
    const keys: string[] = [];
    g.onShader = (key) => keys.push(key);
    try {
      const y = groupNorm(g, p.t.x, p.t.gamma, p.t.beta, { groups: 32, eps: 1e-5 });
      expect(maxAbsDiff(await y.read(), ref(p.x, s, p.gamma, p.beta, 32, false))).toBeLessThanOrEqual(TOL.kernel);
      y.release();
    } finally {
      g.onShader = undefined;
    }
    expect(keys.some((k) => k.includes('wide'))).toBe(false);
    Object.values(p.t).forEach((t) => t?.release());
  });

  it('runs the wide kernels (the wide pipelines are built here)', async () => {
    const g = gpu();
    const keys: string[] = [];
    g.onShader = (key) => keys.push(key);
    try {
      const p = problem(g, [1, 3, 5, 2048], false);
      const y = groupNorm(g, p.t.x, p.t.gamma, p.t.beta, { groups: 32, eps: 1e-5, silu: true });
      expect(maxAbsDiff(await y.read(), ref(p.x, [1, 3, 5, 2048], p.gamma, p.beta, 32, true))).toBeLessThanOrEqual(TOL.kernel);
      y.release();
    } finally {
      g.onShader = undefined;
    }
    expect(keys).toContain('group_norm.stats.wide');
    expect(keys).toContain('group_norm.apply.wide.silu');
  });

  const cases: [string, Shape4, boolean, boolean][] = [
    ['1280 channels (40 per group)', [1, 6, 4, 1280], false, false],
    ['1664 channels (52 per group, 13 units), silu', [1, 4, 9, 1664], true, false],
    ['2048 channels, batch 2, scale/shift + silu', [2, 3, 4, 2048], true, true],
    ['1152 channels (288 units: just past the row kernels), scale/shift', [1, 2, 33, 1152], false, true],
  ];
  for (const [name, s, silu, withSs] of cases)
    it(name, async () => {
      const g = gpu();
      const p = problem(g, s, withSs);
      const y = groupNorm(g, p.t.x, p.t.gamma, p.t.beta, { groups: 32, eps: 1e-5, silu, scaleShift: p.t.ss });
      const got = await y.read();
      expect(maxAbsDiff(got, ref(p.x, s, p.gamma, p.beta, 32, silu, p.ss))).toBeLessThanOrEqual(TOL.kernel);
      groupNormPolicy.wide = false; // the scalar kernels agree
      try {
        const scalar = groupNorm(g, p.t.x, p.t.gamma, p.t.beta, { groups: 32, eps: 1e-5, silu, scaleShift: p.t.ss });
        expect(maxAbsDiff(await scalar.read(), got)).toBeLessThanOrEqual(TOL.kernel);
        scalar.release();
      } finally {
        groupNormPolicy.wide = true;
      }
      y.release();
      Object.values(p.t).forEach((t) => t?.release());
    });

  it('banded by a 64 KiB binding limit equals unbanded, bit for bit', async () => {
    const g = gpu();
    const s: Shape4 = [2, 10, 6, 1536]; // 36 KiB per image row
    const p = problem(g, s, true);
    const run = async () => {
      const y = groupNorm(g, p.t.x, p.t.gamma, p.t.beta, { groups: 32, eps: 1e-5, silu: true, scaleShift: p.t.ss });
      const v = await y.read();
      y.release();
      return v;
    };
    const whole = await run();
    g.maxBindingBytes = 64 * 1024;
    try {
      expect(await run()).toEqual(whole);
    } finally {
      g.maxBindingBytes = g.device.limits.maxStorageBufferBindingSize;
    }
    expect(maxAbsDiff(whole, ref(p.x, s, p.gamma, p.beta, 32, true, p.ss))).toBeLessThanOrEqual(TOL.kernel);
    Object.values(p.t).forEach((t) => t?.release());
  });

});
