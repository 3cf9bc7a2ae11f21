// node scripts/ab-winograd-convs.mjs OLD_DIST NEW_DIST [ROUNDS]
//
// A/B of the Winograd conv (both tiles, subgroup core) between two builds of this project (`dist`
// folders, e.g. one built from a commit before a change, one after): each round runs one process on
// each build, in alternating order (old first in even rounds, new first in odd ones), each timing the
// median of 5 synced runs per (tile, shape) after a warm-up, in wall time and in this process's CPU
// time (lavapipe's worker threads included: steadier than wall time when other jobs share the cores,
// as bench/kernels.ts notes); prints the median of the per-round ratios new / old and their range. Used for docs/benchmarks.md's "One generator for both transforms".
// With --child DIST it is the timed process itself.

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

const SHAPES = [[128, 128], [64, 256]]; // [H = W, channels]

async function child(dist) {
  const { Gpu } = await import(`${resolve(dist)}/src/gpu/gpu.js`);
  const { conv2d, Conv2dWeight } = await import(`${resolve(dist)}/src/kernels/conv2d.js`);
  const rand = (n, seed, scale = 1) => { let s = seed >>> 0; return Float32Array.from({ length: n }, () => (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1) * scale); };
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const gpu = await Gpu.create();
  const out = {};
  for (const [hw, c] of SHAPES) {
    const x = gpu.upload(rand(hw * hw * c, 1), [1, hw, hw, c]);
    const k = Conv2dWeight.fromTorch(gpu, rand(c * c * 9, 2, 0.02), [c, c, 3, 3], rand(c, 3));
    for (const variant of ['winograd', 'winograd4']) {
      const run = () => conv2d(gpu, x, k, { padding: [1, 1, 1, 1], variant });
      run().release();
      await gpu.sync();
      const [ms, cpu] = [[], []];
      for (let i = 0; i < 5; i++) {
        const [t0, c0] = [performance.now(), process.cpuUsage()];
        const y = run();
        await gpu.sync();
        ms.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu.push((c.user + c.system) / 1e3);
        y.release();
      }
      const name = `${variant === 'winograd' ? 'F(2x2)' : 'F(4x4)'} ${c}->${c} 3x3 ${hw}x${hw}`;
      out[`${name} wall`] = median(ms);
      out[`${name} CPU`] = median(cpu);
    }
    x.release();
    k.release();
  }
  gpu.destroy();
  console.log(JSON.stringify(out));
}

if (process.argv[2] === '--child') await child(process.argv[3]);
else {
  const [oldDist, newDist, rounds = '7'] = process.argv.slice(2);
  if (!oldDist || !newDist) throw new Error('usage: node scripts/ab-winograd-convs.mjs OLD_DIST NEW_DIST [ROUNDS]');
  const self = fileURLToPath(import.meta.url);
  const time = (dist) => JSON.parse(execFileSync(process.execPath, [self, '--child', dist], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop());
  const ratios = {};
  for (let r = 0; r < Number(rounds); r++) {
    const [a, b] = r % 2 === 0 ? [time(oldDist), time(newDist)] : (([n, o]) => [o, n])([time(newDist), time(oldDist)]);
    for (const key of Object.keys(a)) (ratios[key] ??= []).push(b[key] / a[key]);
    console.log(`round ${r + 1}: old ${JSON.stringify(a)} new ${JSON.stringify(b)}`);
  }
  console.log('\n| conv (subgroup core), time | new / old, median of rounds (min-max) |\n|---|---:|');
  for (const [key, xs] of Object.entries(ratios)) {
    const s = [...xs].sort((p, q) => p - q);
    console.log(`| ${key} | ${s[s.length >> 1].toFixed(2)} (${s[0].toFixed(2)}-${s[s.length - 1].toFixed(2)}) |`);
  }
}
