// Run one reference kernel case (a safetensors file whose metadata names an op, its params and a
// tolerance; inputs and the `expected` output as tensors) through our WGSL kernels and compare.
// Then run it again with a tiny storage-binding limit, which forces every tensor to be processed in
// bands of rows: the result must not change.
//
//   npm run build
//   node dist/examples/run-kernel-case.js [CASE.safetensors]
//
// The default case is the VAE mid-block attention (c32, 16x16). Cases are in
// test/fixtures/reference/kernels/ (their format: test/fixtures/reference/README.md); `npx sdvae check
// FILES...` runs many at once.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gpu, readSafetensors, runKernelCase, type KernelCaseResult } from '../src/index.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const path = process.argv[2] ?? join(repo, 'test/fixtures/reference/kernels/vae_attention_c32_16x16.safetensors');

const { metadata, tensors } = readSafetensors(path);
console.log(`${path}`);
console.log(`op ${metadata.op}, params ${metadata.params}`);
console.log(`source: ${metadata.source}`);
for (const [name, t] of tensors) console.log(`  ${name.padEnd(24)} [${t.shape}] ${t.dtype}`);

const show = (what: string, r: KernelCaseResult) =>
  console.log(`${what}: ${r.pass ? 'PASS' : 'FAIL'} max |ours - expected| = ${r.maxAbsErr.toExponential(2)} (atol ${r.atol})${r.error ? ` error: ${r.error}` : ''}`);

for (const maxBindingBytes of [undefined, 4096]) {
  const gpu = await Gpu.create({ maxBindingBytes });
  try {
    const result = await runKernelCase(gpu, { path, metadata, tensors });
    show(maxBindingBytes ? `binding limit ${maxBindingBytes} B (banded)` : `binding limit ${gpu.maxBindingBytes} B`, result);
    if (!result.pass) process.exitCode = 1;
  } finally {
    gpu.destroy();
  }
}
