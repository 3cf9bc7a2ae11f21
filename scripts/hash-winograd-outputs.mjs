// node scripts/hash-winograd-outputs.mjs DIST OUT.json
//
// Hashes the Winograd conv's outputs (both tiles, subgroup core) of one build of this project (a
// `dist` folder) on fixed random inputs: 6 shapes (vec4 and scalar channel paths, odd sizes, batch 2)
// x F(2x2)/F(4x4) x f32/f16 activations, plus banded runs under a small binding limit (F(4x4)'s split
// input binding). Two builds whose files are equal compute bit-identical results; used for the
// transform generator's "bit-identical" claim in docs/benchmarks.md.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
if (process.argv.length < 4) throw new Error('usage: node scripts/hash-winograd-outputs.mjs DIST OUT.json');
const dist = pathToFileURL(resolve(process.argv[2])).href;
const { Gpu } = await import(`${dist}/src/gpu/gpu.js`);
const { conv2d, Conv2dWeight } = await import(`${dist}/src/kernels/conv2d.js`);
const { cast } = await import(`${dist}/src/kernels/activation.js`);
const rand = (n, seed, scale = 1) => { let s = seed >>> 0; return Float32Array.from({ length: n }, () => (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1) * scale); }
const gpu = await Gpu.create();
const out = {};
const shapes = [[1, 11, 9, 3, 5], [2, 9, 6, 7, 13], [1, 17, 16, 64, 96], [1, 6, 7, 130, 70], [1, 10, 11, 8, 12], [1, 16, 16, 32, 32]];
for (const [n, h, w, cin, cout] of shapes) {
  const x = gpu.upload(rand(n * h * w * cin, 1, 2), [n, h, w, cin]);
  const wt = rand(cout * cin * 9, 2, 1 / Math.sqrt(9 * cin));
  const k = Conv2dWeight.fromTorch(gpu, wt, [cout, cin, 3, 3], rand(cout, 3, 0.5));
  for (const variant of ['winograd', 'winograd4']) {
    for (const act of ['f32', 'f16']) {
      const xi = act === 'f32' ? x : cast(gpu, x, 'f16');
      const y = conv2d(gpu, xi, k, { padding: [1, 1, 1, 1], variant });
      const data = await y.read();
      out[`${variant} ${act} [${n},${h},${w},${cin}]->${cout}`] = createHash('sha256').update(Buffer.from(data.buffer)).digest('hex').slice(0, 16);
      y.release();
      if (xi !== x) xi.release();
    }
  }
  x.release(); k.release();
}
// Banded (small binding limit) for F(4x4)'s split input path.
{
  const [n, h, w, cin, cout] = [2, 10, 12, 21, 8];
  const x = gpu.upload(rand(n * h * w * cin, 5), [n, h, w, cin]);
  const k = Conv2dWeight.fromTorch(gpu, rand(cout * cin * 9, 6, 0.1), [cout, cin, 3, 3], rand(cout, 7));
  const saved = gpu.maxBindingBytes;
  for (const variant of ['winograd', 'winograd4']) {
    gpu.maxBindingBytes = variant === 'winograd' ? 8192 : 4096;
    const y = conv2d(gpu, x, k, { padding: [1, 1, 1, 1], variant });
    out[`banded ${variant}`] = createHash('sha256').update(Buffer.from((await y.read()).buffer)).digest('hex').slice(0, 16);
    y.release();
  }
  gpu.maxBindingBytes = saved; x.release(); k.release();
}
gpu.destroy();
writeFileSync(process.argv[3], JSON.stringify(out, null, 1));
console.log(Object.keys(out).length, 'outputs');
