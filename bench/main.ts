// npm run bench [-- --only conv|gemm] [--variant tiled|subgroup|winograd|winograd4|winograd-shared|winograd4-shared] [--shapes 0,2] [--budget SECONDS]
//
// Prints the adapter, then one line per measurement and a markdown table (for docs/benchmarks.md):
// GFLOP/s from the median wall time (and from the GPU timestamps where available). For every conv
// shape: the direct-conv variants, Winograd (effective GFLOP/s = direct-conv FLOPs / time), the GEMM
// of the same M, N, K per matmul variant (the direct conv's ceiling) and Winograd's GEMM core alone.

import { execSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { Gpu } from '../src/gpu/gpu.js';
import { defaultConvVariant, type ConvVariant } from '../src/kernels/conv2d.js';
import type { MatmulVariant } from '../src/kernels/matmul.js';
import { benchConv, benchGemm, benchWinogradCore, CONV_SHAPES, type Result } from './kernels.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const only = arg('only'); // conv | gemm
const budgetMs = Number(arg('budget') ?? 8) * 1000; // per measurement, after the first run
const shapeIdx = arg('shapes')?.split(',').map(Number) ?? CONV_SHAPES.map((_, i) => i);

const gpu = await Gpu.create();
const lavapipeKernels = gpu.features.subgroups && gpu.features.subgroupMinSize === 8 && gpu.features.subgroupMaxSize === 8;
// Adapters without 8-lane subgroups: Winograd on the shared-memory GEMM core (winograd.gemm_shared.ts) and the tiled direct conv.
const convVariants: ConvVariant[] = arg('variant') ? [arg('variant') as ConvVariant] : lavapipeKernels ? ['winograd4', 'winograd', 'subgroup', 'tiled'] : ['winograd4-shared', 'winograd-shared', 'tiled'];
const gemmVariants = convVariants.filter((v): v is 'tiled' | 'subgroup' => v === 'tiled' || v === 'subgroup');
let mesa = '';
try {
  mesa = execSync('dpkg-query -W mesa-vulkan-drivers', { encoding: 'utf8' }).trim();
} catch {
  /* not Debian, or no lavapipe */
}
console.log(`adapter: ${gpu.adapterName}${mesa ? ` (${mesa})` : ''}; default direct conv variant: ${defaultConvVariant(gpu)}; ${new Date().toISOString()}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

const cores = availableParallelism();
const gflops = (r: Result) => r.gflop / (r.ms / 1e3);
/** The rate from CPU time spread over all cores: steadier than wall time on a shared machine. */
const cpuGflops = (r: Result) => r.gflop / (r.cpuMs / cores / 1e3);
const report = (r: Result) => {
  console.log(`${r.what.padEnd(40)} ${r.variant.padEnd(9)} ${r.ms.toFixed(0).padStart(7)} ms ${gflops(r).toFixed(2).padStart(6)} GFLOP/s` +
    (r.gpuMs ? ` (GPU ${(r.gflop / (r.gpuMs / 1e3)).toFixed(2)})` : '') + ` (CPU-time ${cpuGflops(r).toFixed(2)})  [${r.runs} runs]`);
  return r;
};

const rows: string[] = [];
try {
  for (const i of shapeIdx) {
    const s = CONV_SHAPES[i];
    const [m, n, k] = [s.hw * s.hw, s.cout, 9 * s.cin];
    const gemm: Partial<Record<MatmulVariant, Result>> = {};
    if (only !== 'conv') {
      for (const v of gemmVariants) gemm[v] = report(await benchGemm(gpu, m, n, k, v, budgetMs));
      for (const tile of [2, 4] as const)
        if (convVariants.includes(tile === 2 ? 'winograd' : 'winograd4')) {
          const r = report(await benchWinogradCore(gpu, s, budgetMs, tile));
          rows.push(`| ${r.what} | core | ${r.ms.toFixed(0)} | ${gflops(r).toFixed(2)} | ${cpuGflops(r).toFixed(2)} | | |`);
        }
    }
    const best = Math.max(0, ...Object.values(gemm).map(gflops));
    if (only !== 'gemm')
      for (const v of convVariants) {
        const r = report(await benchConv(gpu, s, v, budgetMs));
        const same = v === 'tiled' || v === 'subgroup' ? gemm[v] : undefined;
        const share = best ? `${((100 * gflops(r)) / best).toFixed(0)}%` : '';
        rows.push(`| ${r.what} | ${v} | ${r.ms.toFixed(0)} | ${gflops(r).toFixed(2)} | ${cpuGflops(r).toFixed(2)} | ${same ? gflops(same).toFixed(2) : ''} | ${share} |`);
      }
  }
  if (only !== 'conv')
    for (const v of gemmVariants) {
      const r = report(await benchGemm(gpu, 1024, 1024, 1024, v, budgetMs));
      rows.push(`| ${r.what} | ${v} | ${r.ms.toFixed(0)} | ${gflops(r).toFixed(2)} | ${cpuGflops(r).toFixed(2)} | ${gflops(r).toFixed(2)} | |`);
    }
} finally {
  gpu.destroy();
}
console.log('\n| shape | variant | median ms | GFLOP/s (conv: direct-conv FLOPs / time) | same from CPU time | GEMM same M,N,K (same variant) GFLOP/s | conv / best GEMM |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
