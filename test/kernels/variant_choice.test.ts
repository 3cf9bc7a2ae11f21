// Kernel variants follow the adapter's subgroup sizes: the subgroup kernels (and the Winograd GEMMs
// built on them) assume exactly 8 lanes, so adapters with other sizes (SwiftShader 4, NVIDIA/Apple 32,
// Intel 8..32, AMD 32/64) or none (compatibility mode) get the portable tiled kernels.
import { describe, expect, it } from 'vitest';
import type { Gpu, GpuFeatures } from '../../src/gpu/gpu.js';
import { chooseConvVariant, Conv2dWeight, defaultConvVariant } from '../../src/kernels/conv2d.js';
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
  it('Winograd (a subgroup GEMM) only where the 8-lane kernels run', () => {
    const k = { kh: 3, kw: 3 } as unknown as Conv2dWeight;
    expect(chooseConvVariant(fake({}), k, 1, [1, 1, 1, 1])).toMatch(/^winograd/);
    expect(chooseConvVariant(fake({ subgroupMinSize: 8, subgroupMaxSize: 32 }), k, 1, [1, 1, 1, 1])).toBe('tiled');
    expect(chooseConvVariant(fake({ subgroupMinSize: 4, subgroupMaxSize: 4 }), k, 1, [1, 1, 1, 1])).toBe('tiled');
  });
});
