// Kernel benchmarks: conv2d at the real models' 3x3 shapes and the GEMM of the same M, N, K (the
// ceiling the implicit-GEMM conv is measured against), plus GEMM 1024^3, for every kernel variant;
// for Winograd, its GEMM core alone at the conv's shape (16 or 36 GEMMs [tiles, Cin] x [Cin, Cout]).
// conv2d GFLOP/s always counts the direct convolution's FLOPs (2 * H * W * Cout * 9 * Cin), so for
// Winograd it is the "effective" rate: the direct conv would need this rate to be as fast.
//
// Each measurement: one run on a tiny problem to compile the pipeline, then timed runs of the real
// shape (each awaits gpu.sync(), so the time covers the whole dispatch), median reported. With
// timestamp-query the GPU time of the op's pass is recorded too. Fewer runs for slow shapes, so the
// whole suite stays within a few minutes on 2 CPU cores.

import type { Gpu } from '../src/gpu/gpu.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { conv2d, Conv2dWeight, type ConvVariant } from '../src/kernels/conv2d.js';
import { matmul, viewOf, type MatmulVariant } from '../src/kernels/matmul.js';
import { copyV, V_TEXTURE_WIDTH, vTextureRows, WINOGRAD_ROWS, winogradGemm } from '../src/kernels/winograd.gemm.js';
import { textureBinding } from '../src/kernels/winograd.weights.js';
import { packParams } from '../src/gpu/wgsl.js';

export interface Result {
  what: string;
  variant: string;
  gflop: number;
  /** Median wall time per run (ms), from submit to onSubmittedWorkDone. */
  ms: number;
  /** Median GPU time of the pass (ms), when the adapter has timestamp-query. */
  gpuMs?: number;
  /**
   * Median CPU time of this process per run (ms; all threads, so lavapipe's workers included). On a
   * machine shared with other jobs, wall time swings by 2x; CPU time much less, so
   * gflop / (cpuMs / cores) is a steadier estimate of the quiet-machine rate (lavapipe uses all cores).
   */
  cpuMs: number;
  runs: number;
}

export interface ConvShape { cin: number; cout: number; hw: number }

/** The 3x3 convolutions that carry almost all of the VAE's and the consistency decoder's FLOPs. */
export const CONV_SHAPES: ConvShape[] = [
  { cin: 512, cout: 512, hw: 32 },
  { cin: 512, cout: 512, hw: 64 },
  { cin: 256, cout: 256, hw: 128 },
  { cin: 128, cout: 128, hw: 256 },
  { cin: 320, cout: 320, hw: 64 },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function randomData(n: number, seed: number): Float32Array {
  const data = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) data[i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  return data;
}

function random(gpu: Gpu, shape: number[], seed: number): Tensor {
  return gpu.upload(randomData(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** Times `run` (which records one op and returns its output): at least 3 runs, 1 when a run takes over 4 s. */
async function time(gpu: Gpu, run: () => Tensor, budgetMs: number): Promise<{ ms: number; gpuMs?: number; cpuMs: number; runs: number }> {
  const wall: number[] = [];
  const cpu: number[] = [];
  const gpuT: number[] = [];
  const profile = gpu.features.timestamps;
  while (wall.length < 9) {
    if (profile) gpu.profiler.start();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const y = run();
    await gpu.sync();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3);
    if (profile) {
      gpu.profiler.stop();
      gpuT.push(gpu.timings().reduce((a, t) => a + t.ms, 0));
    }
    y.release();
    const total = wall.reduce((a, b) => a + b, 0);
    if ((wall.length >= 3 || wall[0] > 4000) && total + median(wall) > budgetMs) break;
  }
  return { ms: median(wall), gpuMs: profile ? median(gpuT) : undefined, cpuMs: median(cpu), runs: wall.length };
}

export async function benchConv(gpu: Gpu, s: ConvShape, variant: ConvVariant, budgetMs: number): Promise<Result> {
  const w = new Conv2dWeight(random(gpu, [9 * s.cin, s.cout], 2), random(gpu, [s.cout], 3), s.cout, s.cin, 3, 3);
  const opts = { padding: [1, 1, 1, 1] as const, variant };
  const tiny = random(gpu, [1, 3, 3, s.cin], 4);
  conv2d(gpu, tiny, w, opts).release(); // compiles the pipeline (lavapipe compiles at the first submit)
  tiny.release();
  await gpu.sync();
  const x = random(gpu, [1, s.hw, s.hw, s.cin], 1);
  const t = await time(gpu, () => conv2d(gpu, x, w, opts), budgetMs);
  x.release();
  w.release();
  const gflop = (2 * s.hw * s.hw * s.cout * 9 * s.cin) / 1e9;
  return { what: `conv2d ${s.cin}->${s.cout} 3x3 ${s.hw}x${s.hw}`, variant, gflop, ...t };
}

export async function benchGemm(gpu: Gpu, m: number, n: number, k: number, variant: MatmulVariant, budgetMs: number): Promise<Result> {
  const a = random(gpu, [m, k], 1);
  const b = random(gpu, [k, n], 2);
  const tiny = random(gpu, [1, k], 3);
  matmul(gpu, viewOf(tiny), viewOf(b), { variant }).release(); // compiles the pipeline (lavapipe compiles at the first submit)
  tiny.release();
  await gpu.sync();
  const t = await time(gpu, () => matmul(gpu, viewOf(a), viewOf(b), { variant }), budgetMs);
  a.release();
  b.release();
  return { what: `gemm ${m}x${n}x${k}`, variant, gflop: (2 * m * n * k) / 1e9, ...t };
}

/**
 * The Winograd GEMM core alone at a conv shape: 16 GEMMs [Tp, Kp] x [Kp, Np] with Tp = tiles of the
 * image (H/2 * W/2). GFLOP/s counts the GEMMs' own multiply-adds (2 * 16 * Tp * Kp * Np).
 */
export async function benchWinogradCore(gpu: Gpu, s: ConvShape, budgetMs: number, tile: 2 | 4 = 2): Promise<Result> {
  const up = (v: number, m: number) => Math.ceil(v / m) * m;
  const P = (tile + 2) ** 2;
  const tiles = Math.ceil(s.hw / tile) ** 2;
  const [tp, kp, np] = [up(tiles, WINOGRAD_ROWS), up(s.cin, 32), up(s.cout, 32)];
  const v = random(gpu, [P, tp, kp], 1);
  const usage = GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST;
  const u = gpu.device.createTexture({ size: [np / 4, kp, P], format: 'rgba32float', usage });
  const uData = randomData(P * kp * np, 2);
  gpu.device.queue.writeTexture({ texture: u }, uData.buffer, { bytesPerRow: np * 4, rowsPerImage: kp }, [np / 4, kp, P]);
  const uView = textureBinding(u);
  // The core fetches V from a texture (winograd.gemm.ts): copied from v once, as winograd.ts does per band.
  const vt = gpu.device.createTexture({ size: [V_TEXTURE_WIDTH, vTextureRows(tp, kp), P], format: 'rgba32float', usage });
  copyV(gpu, 'winograd gemm core: V', v, vt, tp, kp, P);
  const pipeline = winogradGemm.pipeline(gpu);
  const run = () => {
    const m = gpu.empty([P, tp, np]);
    gpu.op('winograd gemm core', (pass) =>
      gpu.dispatch(pass, pipeline, packParams([tp, kp, np, P]), [textureBinding(vt), uView, gpu.bindWhole(m)], winogradGemm.groups(tp, np, P)));
    return m;
  };
  run().release(); // compiles the pipeline
  await gpu.sync();
  const t = await time(gpu, run, budgetMs);
  v.release();
  u.destroy();
  vt.destroy();
  return { what: `winograd${tile === 4 ? '4' : ''} core ${P}x[${tp}x${kp}]x[${kp}x${np}]`, variant: 'core', gflop: (2 * P * tp * kp * np) / 1e9, ...t };
}
