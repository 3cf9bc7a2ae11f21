// Plain-TypeScript CPU references of the kernels, in the same NHWC layout, written as the math reads
// (loops, float64 accumulation). For tests on shapes the PyTorch fixtures do not cover, and for readers.

export type Shape4 = readonly [number, number, number, number];

const idx = ([, h, w, c]: Shape4, n: number, y: number, x: number, ch: number) => ((n * h + y) * w + x) * c + ch;

/** w in PyTorch layout [Cout, Cin, kh, kw]; pad [top, bottom, left, right]. */
export function conv2dRef(x: Float32Array, xs: Shape4, w: Float32Array, [cout, cin, kh, kw]: Shape4, bias: Float32Array | null, stride: number, pad: readonly number[]): { y: Float32Array; shape: Shape4 } {
  const [n, h, wd] = xs;
  const ho = Math.floor((h + pad[0] + pad[1] - kh) / stride) + 1;
  const wo = Math.floor((wd + pad[2] + pad[3] - kw) / stride) + 1;
  const shape: Shape4 = [n, ho, wo, cout];
  const y = new Float32Array(n * ho * wo * cout);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++)
        for (let co = 0; co < cout; co++) {
          let s = bias ? bias[co] : 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = oy * stride - pad[0] + ky;
              const ix = ox * stride - pad[2] + kx;
              if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
              for (let ci = 0; ci < cin; ci++) s += x[idx(xs, b, iy, ix, ci)] * w[((co * cin + ci) * kh + ky) * kw + kx];
            }
          y[idx(shape, b, oy, ox, co)] = s;
        }
  return { y, shape };
}

export function groupNormRef(x: Float32Array, [n, h, w, c]: Shape4, gamma: Float32Array, beta: Float32Array, groups: number, eps: number, silu = false): Float32Array {
  const y = new Float32Array(x.length);
  const cpg = c / groups;
  for (let b = 0; b < n; b++)
    for (let g = 0; g < groups; g++) {
      const at = (p: number, k: number) => (b * h * w + p) * c + g * cpg + k;
      let mean = 0;
      for (let p = 0; p < h * w; p++) for (let k = 0; k < cpg; k++) mean += x[at(p, k)];
      mean /= h * w * cpg;
      let v = 0;
      for (let p = 0; p < h * w; p++) for (let k = 0; k < cpg; k++) v += (x[at(p, k)] - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / (h * w * cpg) + eps);
      for (let p = 0; p < h * w; p++)
        for (let k = 0; k < cpg; k++) {
          const o = (x[at(p, k)] - mean) * rstd * gamma[g * cpg + k] + beta[g * cpg + k];
          y[at(p, k)] = silu ? o / (1 + Math.exp(-o)) : o;
        }
    }
  return y;
}

export function upsampleNearestRef(x: Float32Array, xs: Shape4, f: number): Float32Array {
  const [n, h, w, c] = xs;
  const os: Shape4 = [n, h * f, w * f, c];
  const y = new Float32Array(x.length * f * f);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < h * f; oy++)
      for (let ox = 0; ox < w * f; ox++)
        for (let ch = 0; ch < c; ch++) y[idx(os, b, oy, ox, ch)] = x[idx(xs, b, Math.floor(oy / f), Math.floor(ox / f), ch)];
  return y;
}

export function avgPool2x2Ref(x: Float32Array, xs: Shape4): Float32Array {
  const [n, h, w, c] = xs;
  const os: Shape4 = [n, Math.floor(h / 2), Math.floor(w / 2), c];
  const y = new Float32Array(os[0] * os[1] * os[2] * c);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < os[1]; oy++)
      for (let ox = 0; ox < os[2]; ox++)
        for (let ch = 0; ch < c; ch++) {
          const v = (dy: number, dx: number) => x[idx(xs, b, 2 * oy + dy, 2 * ox + dx, ch)];
          y[idx(os, b, oy, ox, ch)] = (v(0, 0) + v(0, 1) + v(1, 0) + v(1, 1)) / 4;
        }
  return y;
}

export function concatRef(a: Float32Array, ca: number, b: Float32Array, cb: number): Float32Array {
  const pixels = a.length / ca;
  const y = new Float32Array(pixels * (ca + cb));
  for (let p = 0; p < pixels; p++) {
    y.set(a.subarray(p * ca, (p + 1) * ca), p * (ca + cb));
    y.set(b.subarray(p * cb, (p + 1) * cb), p * (ca + cb) + ca);
  }
  return y;
}

export function siluRef(x: Float32Array): Float32Array {
  return x.map((v) => v / (1 + Math.exp(-v)));
}
