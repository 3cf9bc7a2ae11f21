// npm run bench [-- --only conv|gemm] [--variant tiled|subgroup] [--shapes 0,2] [--budget SECONDS]
//
// Prints the adapter, then one line per measurement and a markdown table (for docs/benchmarks.md):
// GFLOP/s from the median wall time (and from the GPU timestamps where available), and for every conv
// the GEMM ceiling of the same M, N, K with the conv's share of it.

import { execSync } from 'node:child_process';
import { Gpu } from '../src/gpu/gpu.js';
import { defaultConvVariant, type ConvVariant } from '../src/kernels/conv2d.js';
import { benchConv, benchGemm, CONV_SHAPES, type Result } from './kernels.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const only = arg('only'); // conv | gemm
const budgetMs = Number(arg('budget') ?? 8) * 1000; // per measurement, after the first run
const shapeIdx = arg('shapes')?.split(',').map(Number) ?? CONV_SHAPES.map((_, i) => i);

const gpu = await Gpu.create();
const variants: ConvVariant[] = arg('variant') ? [arg('variant') as ConvVariant] : gpu.features.subgroups && gpu.features.subgroupMinSize === 8 ? ['subgroup', 'tiled'] : ['tiled'];
let mesa = '';
try {
  mesa = execSync('dpkg-query -W mesa-vulkan-drivers', { encoding: 'utf8' }).trim();
} catch {
  /* not Debian, or no lavapipe */
}
console.log(`adapter: ${gpu.adapterName}${mesa ? ` (${mesa})` : ''}; default conv variant: ${defaultConvVariant(gpu)}; ${new Date().toISOString()}`);

const gflops = (r: Result) => r.gflop / (r.ms / 1e3);
const report = (r: Result) => {
  console.log(`${r.what.padEnd(34)} ${r.variant.padEnd(9)} ${r.ms.toFixed(0).padStart(7)} ms ${gflops(r).toFixed(2).padStart(6)} GFLOP/s` +
    (r.gpuMs ? ` (GPU ${(r.gflop / (r.gpuMs / 1e3)).toFixed(2)})` : '') + `  [${r.runs} runs]`);
  return r;
};

const rows: string[] = [];
try {
  for (const i of shapeIdx) {
    const s = CONV_SHAPES[i];
    const [m, n, k] = [s.hw * s.hw, s.cout, 9 * s.cin];
    const gemm: Record<string, Result> = {};
    if (only !== 'conv') for (const v of variants) gemm[v] = report(await benchGemm(gpu, m, n, k, v, budgetMs));
    const best = Math.max(0, ...Object.values(gemm).map(gflops));
    if (only !== 'gemm')
      for (const v of variants) {
        const r = report(await benchConv(gpu, s, v, budgetMs));
        const share = best ? `${((100 * gflops(r)) / best).toFixed(0)}%` : '';
        rows.push(`| ${r.what} | ${v} | ${r.ms.toFixed(0)} | ${gflops(r).toFixed(2)} | ${gemm[v] ? gflops(gemm[v]).toFixed(2) : ''} | ${share} |`);
      }
  }
  if (only !== 'conv')
    for (const v of variants) {
      const r = report(await benchGemm(gpu, 1024, 1024, 1024, v, budgetMs));
      rows.push(`| ${r.what} | ${v} | ${r.ms.toFixed(0)} | ${gflops(r).toFixed(2)} | ${gflops(r).toFixed(2)} | |`);
    }
} finally {
  gpu.destroy();
}
console.log('\n| shape | variant | median ms | GFLOP/s | GEMM same M,N,K (same variant) GFLOP/s | conv / best GEMM |');
console.log('|---|---|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
