// Kernel variants follow the adapter's subgroup sizes: the direct subgroup kernels (and the subgroup
// Winograd GEMM core) assume exactly 8 lanes, so adapters with other sizes (SwiftShader 4,
// NVIDIA/Apple 32, Intel 8..32, AMD 32/64) or none (compatibility mode) get the portable tiled
// direct kernels and Winograd on the workgroup-memory GEMM core.
import { describe, expect, it } from 'vitest';
import type { Gpu, GpuFeatures } from '../../src/gpu/gpu.js';
import { chooseConvVariant, Conv2dWeight, convPolicy, defaultConvVariant } from '../../src/kernels/conv2d.js';
import { defaultMatmulVariant } from '../../src/kernels/matmul.js';

const fake = (f: Partial<GpuFeatures>) => ({ features: { f16: false, subgroups: true, timestamps: false, subgroupMinSize: 8, subgroupMaxSize: 8, ...f } }) as unknown as Gpu;

describe('variant choice by subgroup size', () => {
  const cases: [string, Partial<GpuFeatures>, string][] = [
    ['lavapipe (8)', {}, 'subgroup'],
    ['SwiftShader (4)', { subgroupMinSize: 4, subgroupMaxSize: 4 }, 'tiled'],
    ['Intel (8..32)', { subgroupMinSize: 8, subgroupMaxSize: 32 }, 'tiled'],
    ['NVIDIA (32)', { subgroupMinSize: 32, subgroupMaxSize: 32 }, 'tiled'],
    ['AMD (32..64)', { subgroupMinSize: 32, subgroupMaxSize: 64 }, 'tiled'],
    ['unknown size', { subgroupMinSize: 0, subgroupMaxSize: 0 }, 'tiled'],
    ['no subgroups (compatibility mode)', { subgroups: false }, 'tiled'],
  ];
  for (const [name, f, want] of cases) {
    it(`${name}: conv ${want}, matmul ${want}`, () => {
      expect(defaultConvVariant(fake(f))).toBe(want);
      expect(defaultMatmulVariant(fake(f))).toBe(want);
    });
  }
  it('Winograd on every adapter: the subgroup GEMM core where the 8-lane kernels run, the shared-memory core elsewhere', () => {
    const k = { kh: 3, kw: 3 } as unknown as Conv2dWeight;
    const pad1 = [1, 1, 1, 1];
    for (const [name, f, want] of cases) {
      const core = want === 'subgroup' ? '' : '-shared';
      expect(chooseConvVariant(fake(f), k, 1, pad1), name).toBe(`winograd4${core}`);
      convPolicy.winogradTile = 2;
      try {
        expect(chooseConvVariant(fake(f), k, 1, pad1), name).toBe(`winograd${core}`);
      } finally {
        convPolicy.winogradTile = 4;
      }
      // Not a 3x3 stride-1 pad-1 conv: the direct kernel.
      expect(chooseConvVariant(fake(f), k, 2, [0, 1, 0, 1]), name).toBe(want);
    }
  });
  it('convPolicy.winogradCore forces a core; winograd: false the direct kernel', () => {
    const k = { kh: 3, kw: 3 } as unknown as Conv2dWeight;
    const pad1 = [1, 1, 1, 1];
    const saved = { ...convPolicy };
    try {
      convPolicy.winogradCore = 'shared';
      expect(chooseConvVariant(fake({}), k, 1, pad1)).toBe('winograd4-shared');
      convPolicy.winogradCore = 'subgroup';
      expect(chooseConvVariant(fake({ subgroups: false }), k, 1, pad1)).toBe('winograd4');
      convPolicy.winograd = false;
      expect(chooseConvVariant(fake({ subgroups: false }), k, 1, pad1)).toBe('tiled');
    } finally {
      Object.assign(convPolicy, saved);
    }
  });
});
