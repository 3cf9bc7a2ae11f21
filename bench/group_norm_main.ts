// npm run bench:group-norm
import { Gpu } from '../src/gpu/gpu.js';
import { benchGroupNorm, GROUP_NORM_SHAPES } from './group_norm.js';

const gpu = await Gpu.create();
console.log(`adapter: ${gpu.adapterName}; ${new Date().toISOString()}`);
console.log('| op | median ms | GB/s |\n|---|---:|---:|');
try {
  for (const s of GROUP_NORM_SHAPES) {
    const r = await benchGroupNorm(gpu, s);
    console.log(`| ${r.what} | ${r.ms.toFixed(1)} | ${r.gbPerS.toFixed(2)} |`);
  }
} finally {
  gpu.destroy();
}
