// Real tensors above lavapipe's (and many browsers') 128 MiB storage-binding limit, at the adapter's
// own limit (no forced banding): a 138 MB activation must be processed in bands and still be exact.
import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../../src/check/compare.js';
import { conv2d, Conv2dWeight } from '../../src/kernels/conv2d.js';
import { groupNorm } from '../../src/kernels/group_norm.js';
import { groupNormRef } from '../../src/kernels/reference.js';
import { TOL } from '../tolerances.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();

describe('tensors larger than one binding (adapter limit)', () => {
  it('conv2d 3x3 8->512 on 256x264 (138 MB output) matches a CPU conv on sampled pixels', async () => {
    const g = gpu();
    const [h, w, cin, cout] = [256, 264, 8, 512];
    expect(h * w * cout * 4).toBeGreaterThan(g.maxBindingBytes);
    const x = Float32Array.from({ length: h * w * cin }, (_, i) => Math.sin(i * 0.37));
    const wt = Float32Array.from({ length: cout * cin * 9 }, (_, i) => Math.cos(i * 0.11) / 8);
    const xt = g.upload(x, [1, h, w, cin]);
    const k = Conv2dWeight.fromTorch(g, wt, [cout, cin, 3, 3]);
    const y = conv2d(g, xt, k, { padding: [1, 1, 1, 1] });
    const out = await y.read();
    for (const t of [xt, y]) t.release();
    k.release();
    let worst = 0;
    for (let s = 0; s < 400; s++) {
      const oy = (s * 37) % h, ox = (s * 101) % w, co = (s * 13) % cout; // rows across every band, and both edges
      let ref = 0;
      for (let ky = 0; ky < 3; ky++)
        for (let kx = 0; kx < 3; kx++) {
          const iy = oy + ky - 1, ix = ox + kx - 1;
          if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
          for (let ci = 0; ci < cin; ci++) ref += x[(iy * w + ix) * cin + ci] * wt[((co * cin + ci) * 3 + ky) * 3 + kx];
        }
      worst = Math.max(worst, Math.abs(out[(oy * w + ox) * cout + co] - ref));
    }
    expect(worst).toBeLessThanOrEqual(TOL.kernel);
  });

  it('group norm + silu on [1, 256, 264, 512] (138 MB) matches the CPU reference', async () => {
    const g = gpu();
    const shape = [1, 256, 264, 512] as const;
    const n = shape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.001) * 2 + 50); // large mean: tests the variance
    const gamma = Float32Array.from({ length: 512 }, (_, i) => 1 + 0.01 * (i % 7));
    const beta = Float32Array.from({ length: 512 }, (_, i) => 0.01 * (i % 5));
    const [xt, gt, bt] = [g.upload(x, shape), g.upload(gamma, [512]), g.upload(beta, [512])];
    const y = groupNorm(g, xt, gt, bt, { groups: 32, eps: 1e-6, silu: true });
    const out = await y.read();
    for (const t of [xt, gt, bt, y]) t.release();
    expect(maxAbsDiff(out, groupNormRef(x, shape, gamma, beta, 32, 1e-6, true))).toBeLessThanOrEqual(TOL.kernel);
  });
});
