// npm run bench:kernels includes this: group norm (+SiLU) throughput at the VAE decoder's shapes.
import type { Gpu } from '../src/gpu/gpu.js';
import { groupNorm } from '../src/kernels/group_norm.js';

export interface GroupNormResult {
  what: string;
  ms: number;
  /** Bytes read and written by the ideal op (x read twice: stats and apply; y written once) per second. */
  gbPerS: number;
}

export const GROUP_NORM_SHAPES: [number, number, number][] = [
  [64, 64, 512],
  [128, 128, 256],
  [256, 256, 128],
  [64, 64, 320],
];

export async function benchGroupNorm(gpu: Gpu, [h, w, c]: [number, number, number], runs = 5): Promise<GroupNormResult> {
  const x = gpu.upload(Float32Array.from({ length: h * w * c }, (_, i) => Math.sin(i * 0.001)), [1, h, w, c]);
  const g = gpu.upload(new Float32Array(c).fill(1), [c]);
  const b = gpu.upload(new Float32Array(c), [c]);
  const once = async () => {
    const t0 = performance.now();
    const y = groupNorm(gpu, x, g, b, { groups: 32, eps: 1e-6, silu: true });
    await gpu.sync();
    y.release();
    return performance.now() - t0;
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  for (const t of [x, g, b]) t.release();
  const ms = times.sort((a, b) => a - b)[Math.floor(runs / 2)];
  return { what: `group_norm+silu [1,${h},${w},${c}]`, ms, gbPerS: (3 * h * w * c * 4) / (ms / 1e3) / 1e9 };
}
