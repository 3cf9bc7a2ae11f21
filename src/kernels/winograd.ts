// conv2d 3x3, stride 1, padding 1 by Winograd F(2x2, 3x3): 2.25x fewer multiplies than the direct
// convolution (the math: winograd.transforms.ts). Per band of tile rows, three dispatches:
//
//   1. input transform   x [N, H, W, Cin] (band + 1-row halo)  -> V [16, Tp, Kp]
//   2. 16 GEMMs          V [16, Tp, Kp] · U [16, Kp, Np]       -> M [16, Tp, Np]   (winograd.gemm.ts)
//   3. output transform  M -> y [N, H, W, Cout] (+ bias)
//
// A tile is a 2x2 block of outputs, aligned to even rows and columns of its image; a tile row is the
// tiles of one pair of output rows of one image, and bands are whole tile rows. So every output is
// computed from the same tile, by the same code, whatever the band: banded == unbanded, bit for bit.
// T = tiles in the band, Tp = T rounded up to CORE_ROWS (the GEMM tile's rows), Kp / Np = Cin / Cout
// rounded up to 32; the transforms write zeros into the padding so the GEMM's loop has no bounds tests.
// V and M are ~4x (16 / 4 outputs per tile) the band's output: bands are cut so they stay within
// SCRATCH_BYTES; they are pooled buffers, released when the op is recorded.
// U = G g Gᵀ [16, Kp, Np] is computed once per weight, on first use, and kept with it (a texture).

import type { Gpu } from '../gpu/gpu.js';
import { planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { packParams } from '../gpu/wgsl.js';
import type { Conv2dWeight } from './conv2d.js';
import { winogradGemm } from './winograd.gemm.js';
import { CORE_ROWS } from './matmul.core.js';
import { TRANSFORM_WG, winogradInputPipeline, winogradOutputPipeline, winogradWeightPipeline } from './winograd.transforms.js';

const up = (v: number, m: number) => Math.ceil(v / m) * m;

/**
 * Most bytes of each of V and M per band. They are the op's own scratch, not activations: they are
 * bounded by this (and the adapter's binding limit), not by the planning limit that bands activations,
 * so a test's tiny planning limit still bands x and y while V and M stay whole tile rows. 64 MiB keeps
 * the op's extra memory bounded; bands of thousands of tiles gain nothing from being larger.
 */
const SCRATCH_BYTES = 64 * 2 ** 20;

/** Binds the first `elems` elements of a scratch tensor (within SCRATCH_BYTES by the band plan). */
function scratch(t: Tensor, elems: number): GPUBufferBinding {
  t.assertLive();
  return { buffer: t.buffer, offset: 0, size: elems * 4 };
}

/** Whether Winograd F(2x2, 3x3) computes this convolution: 3x3, stride 1, padding 1 on every side. */
export function winogradApplies(k: Conv2dWeight, stride: number, pad: readonly number[]): boolean {
  return k.kh === 3 && k.kw === 3 && stride === 1 && pad.every((v) => v === 1);
}

/**
 * U = G g Gᵀ of a 3x3 weight: an rgba32float texture array, 16 layers (positions) of Kp rows x Np / 4
 * texels, computed on the GPU at first use and kept with the weight (Conv2dWeight.release frees it).
 */
export function winogradWeight(gpu: Gpu, k: Conv2dWeight): GPUTexture {
  if (k.winograd) return k.winograd.u;
  const [kp, np] = [up(k.cin, 32), up(k.cout, 32)];
  if (gpu.dryRun) {
    const u = gpu.device.createTexture({ size: [1, 1, 16], format: 'rgba32float', usage: GPUTextureUsage.TEXTURE_BINDING }); // never read
    k.winograd = { u, gpu };
    return u;
  }
  const max = gpu.device.limits.maxTextureDimension2D;
  if (kp > max || np / 4 > max) throw new Error(`winograd: a ${k.cin} -> ${k.cout} weight needs a ${np / 4} x ${kp} texture, above maxTextureDimension2D ${max}`);
  const u = gpu.device.createTexture({
    label: `${k.w.label}.winograd`,
    size: [np / 4, kp, 16],
    format: 'rgba32float',
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING,
  });
  gpu.op(`winograd weight transform [${k.cout}, ${k.cin}, 3, 3]`, (pass) => {
    const params = packParams([k.cin, k.cout, kp, np]);
    gpu.dispatch(pass, winogradWeightPipeline(gpu), params, [gpu.bindWhole(k.w), textureBinding(u)], Math.ceil((kp * np) / 4 / TRANSFORM_WG));
  });
  k.winograd = { u, gpu };
  return u;
}

/**
 * A texture view in Gpu.dispatch's list of bindings: WebGPU takes any binding resource there, the
 * list is only typed for buffers (see gpu.ts).
 */
export const textureBinding = (t: GPUTexture) => t.createView({ dimension: '2d-array' }) as unknown as GPUBufferBinding;

/** x [N, H, W, Cin] -> y [N, H, W, Cout]: the 3x3 pad-1 stride-1 convolution. */
export function conv2dWinograd(gpu: Gpu, x: Tensor, k: Conv2dWeight, label = 'conv2d'): Tensor {
  const [n, h, w, cin] = x.shape;
  const { cout } = k;
  const [kp, np] = [up(cin, 32), up(cout, 32)];
  const [tilesH, tilesW] = [Math.ceil(h / 2), Math.ceil(w / 2)];
  const u = winogradWeight(gpu, k);
  const y = gpu.empty([n, h, w, cout], label);

  // Tile row r (flattened n * tilesH + th) reads input rows 2th - 1 .. 2th + 2 and writes output rows
  // 2th, 2th + 1 of image n (both clipped to the image): the first and last row (+1) of a band.
  const row = (r: number, first: number, last: number, edge: 0 | 1) => {
    const img = Math.floor(r / tilesH);
    const ih = 2 * (r % tilesH) + (edge ? last : first);
    return img * h + Math.min(h - 1, Math.max(0, ih)) + edge;
  };
  const tp = (r0: number, r1: number) => up((r1 - r0) * tilesW, CORE_ROWS);
  const ranges = (r0: number, r1: number): Range[] => [
    [row(r0, -1, 2, 0) * w * cin, row(r1 - 1, -1, 2, 1) * w * cin],
    [row(r0, 0, 1, 0) * w * cout, row(r1 - 1, 0, 1, 1) * w * cout],
  ];
  // Bands: whole tile rows whose activations fit the planning limit (as for every op), each then cut
  // so that its scratch V and M stays within SCRATCH_BYTES (and the adapter's binding limit).
  const scratchRowBytes = (rows: number) => 16 * up(rows * tilesW, CORE_ROWS) * Math.max(kp, np) * 4;
  const scratchLimit = Math.min(SCRATCH_BYTES, gpu.device.limits.maxStorageBufferBindingSize);
  let maxRows = 1;
  while (maxRows < n * tilesH && scratchRowBytes(maxRows + 1) <= scratchLimit) maxRows++;
  if (scratchRowBytes(1) > scratchLimit) throw new Error(`${label} (winograd): one tile row needs ${scratchRowBytes(1)} bytes of scratch, above ${scratchLimit}`);
  const bands = planBands(gpu, n * tilesH, ranges, `${label} (winograd) [${x.shape}] -> [${y.shape}]`).flatMap(({ r0, r1 }) => {
    const cut = [];
    for (let a = r0; a < r1; a += maxRows) cut.push({ r0: a, r1: Math.min(r1, a + maxRows) });
    return cut;
  });
  const maxTp = Math.max(...bands.map((b) => tp(b.r0, b.r1)));
  const v = gpu.empty([16, maxTp, kp], `${label}.winograd.V`);
  const m = gpu.empty([16, maxTp, np], `${label}.winograd.M`);
  const [inputP, gemmP, outputP] = [winogradInputPipeline(gpu, cin), winogradGemm.pipeline(gpu), winogradOutputPipeline(gpu, cout)];

  const uView = textureBinding(u);
  const flops = 2 * n * h * w * cout * 9 * cin; // the direct convolution's, for effective rates
  gpu.op(`${label} [${x.shape}]->[${y.shape}] k3x3s1 winograd`, (pass) => {
    for (const { r0, r1 } of bands) {
      const [inR, outR] = ranges(r0, r1);
      const [t, tpb] = [(r1 - r0) * tilesW, tp(r0, r1)];
      const xb = gpu.bind(x, inR[0], inR[1]);
      const yb = gpu.bind(y, outR[0], outR[1]);
      const vb = scratch(v, 16 * tpb * kp);
      const mb = scratch(m, 16 * tpb * np);
      const params = packParams([h, w, cin, cout, tilesH, tilesW, r0, t, tpb, kp, np, xb.base, yb.base]);
      gpu.dispatch(pass, inputP, params, [xb.binding, vb], Math.ceil((tpb * kp) / 4 / TRANSFORM_WG));
      gpu.dispatch(pass, gemmP, packParams([tpb, kp, np]), [vb, uView, mb], winogradGemm.groups(tpb, np));
      gpu.dispatch(pass, outputP, params, [mb, gpu.bindWhole(k.bias), yb.binding], Math.ceil((t * Math.ceil(cout / 4)) / TRANSFORM_WG));
    }
  }, { flops });
  v.release();
  m.release();
  return y;
}
