// conv2d 3x3, stride 1, padding 1 by Winograd: F(2x2, 3x3) (2.25x fewer multiplies than the direct
// convolution; winograd.transforms.ts) or F(4x4, 3x3) (4x fewer; winograd4.transforms.ts). With
// tile = 2 or 4 output rows / columns per tile and P = (tile + 2)^2 positions, per band of tile rows:
//
//   1. input transform   x [N, H, W, Cin] (band + 1-row halo)  -> V [P, Tp, Kp]
//   2. P GEMMs           V [P, Tp, Kp] · U [P, Kp, Np]         -> M [P, Tp, Np]   (winograd.gemm.ts, or winograd.gemm_shared.ts)
//   3. output transform  M -> y [N, H, W, Cout] (+ bias)
//
// Each step is its own compute pass (op labels end in input / gemm / output), so profiles time them apart.
// The subgroup core reads V from a texture: step 1 writes V into a buffer, a copy puts it into the
// shared V texture (shared_textures.ts), and step 2 writes M into the same buffer (V there is no
// longer needed), so the op's scratch is one buffer and the texture. The shared-memory core reads
// V from its buffer and writes M into a second one.
//
// A tile is a tile x tile block of outputs, aligned to multiples of tile in its image; a tile row is
// the tiles of one group of tile output rows of one image, and bands are whole tile rows. So every
// output is computed from the same tile, by the same code, whatever the band: banded == unbanded, bit
// for bit. T = tiles in the band, Tp = T rounded up to WINOGRAD_ROWS (the GEMM tile's rows), Kp / Np =
// Cin / Cout rounded up to 32; the transforms write zeros into the padding so the GEMM's loop has no
// bounds tests. V and M are P / tile^2 times the band's output (4x for
// F(2,3), 2.25x for F(4,3)): bands are cut so they stay within SCRATCH_BYTES (and V's texture within
// the adapter's texture size); the buffers are pooled, released when the op is recorded. U = G g Gᵀ
// [P, Kp, Np] is a texture, cached with the weight or made at each use (winograd.weights.ts).

import type { BoundRange, Gpu } from '../gpu/gpu.js';
import { boundBytes, planBands, type Range } from '../gpu/bands.js';
import type { Tensor } from '../gpu/tensor.js';
import { packParams } from '../gpu/wgsl.js';
import type { Conv2dWeight } from './conv2d.js';
import { copyV, V_TEXTURE_WIDTH, vTextureRows, WINOGRAD_ROWS, winogradGemm } from './winograd.gemm.js';
import { winogradGemmShared } from './winograd.gemm_shared.js';
import { TRANSFORM_WG, winogradInputPipeline, winogradOutputPipeline } from './winograd.transforms.js';
import { winograd4InputPipeline, winograd4OutputPipeline } from './winograd4.transforms.js';
import { positions, textureBinding, winogradU, type WinogradTile } from './winograd.weights.js';
import { sharedTexture } from './shared_textures.js';
import { activationDType, type ActivationDType } from './activation.js';

export { positions, type WinogradTile } from './winograd.weights.js';

/**
 * Which GEMM core computes step 2: 'subgroup' (winograd.gemm.ts: subgroups of exactly 8 lanes, the
 * fastest on lavapipe) or 'shared' (winograd.gemm_shared.ts: workgroup memory, any adapter). Same
 * layouts, tiles and summation order; only the GEMM's pipeline differs.
 */
export type WinogradCore = 'subgroup' | 'shared';
const cores = { subgroup: winogradGemm, shared: winogradGemmShared } as const;

// Tile 2 = F(2x2, 3x3) (4x4 input tiles, 16 positions, winograd.transforms.ts), 4 = F(4x4, 3x3) (6x6
// input tiles, 36 positions, winograd4.transforms.ts). Either GEMM core, same banding.
// `split`: F(4x4)'s band input in two bindings (below); F(2x2)'s never is.
const inputPipeline = (gpu: Gpu, tile: WinogradTile, cin: number, act: ActivationDType, split: boolean) =>
  tile === 2 ? winogradInputPipeline(gpu, cin, act) : winograd4InputPipeline(gpu, cin, act, split);
const outputPipeline = (gpu: Gpu, tile: WinogradTile, cout: number, act: ActivationDType) =>
  tile === 2 ? winogradOutputPipeline(gpu, cout, act) : winograd4OutputPipeline(gpu, cout, act);

const up = (v: number, m: number) => Math.ceil(v / m) * m;

/**
 * Most bytes of each of V and M per band. They are the op's own scratch, not activations: they are
 * bounded by this (and the adapter's binding limit), not by the planning limit that bands activations,
 * so a test's tiny planning limit still bands x and y while V and M stay whole tile rows. 64 MiB keeps
 * the op's extra memory bounded; bands of thousands of tiles gain nothing from being larger (32 MiB was tried: 62 MiB less at the 512x512 SD VAE decode's peak, but 3-6% slower decodes on lavapipe, docs/benchmarks.md).
 */
const SCRATCH_BYTES = 64 * 2 ** 20;

/** Binds the first `elems` elements of a scratch tensor (within SCRATCH_BYTES by the band plan). */
function scratch(t: Tensor, elems: number): GPUBufferBinding {
  t.assertLive();
  return { buffer: t.buffer, offset: t.offset, size: elems * 4 };
}

/** Whether Winograd (either tile size) computes this convolution: 3x3, stride 1, padding 1 on every side. */
export function winogradApplies(k: Conv2dWeight, stride: number, pad: readonly number[]): boolean {
  return k.kh === 3 && k.kw === 3 && stride === 1 && pad.every((v) => v === 1);
}

/** x [N, H, W, Cin] -> y [N, H, W, Cout]: the 3x3 pad-1 stride-1 convolution. */
export function conv2dWinograd(gpu: Gpu, x: Tensor, k: Conv2dWeight, label = 'conv2d', tile: WinogradTile = 2, auto = false, core: WinogradCore = 'subgroup'): Tensor {
  const [n, h, w, cin] = x.shape;
  const { cout } = k;
  const P = positions(tile);
  const [kp, np] = [up(cin, 32), up(cout, 32)];
  const vTexture = core === 'subgroup'; // V through a texture (see the header)
  const [tilesH, tilesW] = [Math.ceil(h / tile), Math.ceil(w / tile)];
  const u = winogradU(gpu, k, tile, h * w, auto);
  const act = activationDType(x, label);
  const y = gpu.empty([n, h, w, cout], label, act); // stored like x; V and M stay f32

  // Tile row r (flattened n * tilesH + th) reads input rows tile·th - 1 .. tile·th + tile and writes
  // output rows tile·th .. tile·th + tile - 1 of image n (both clipped to the image): the first and
  // last row (+1) of a band.
  const row = (r: number, first: number, last: number, edge: 0 | 1) => {
    const img = Math.floor(r / tilesH);
    const ih = tile * (r % tilesH) + (edge ? last : first);
    return img * h + Math.min(h - 1, Math.max(0, ih)) + edge;
  };
  const tp = (r0: number, r1: number) => up((r1 - r0) * tilesW, WINOGRAD_ROWS);
  const inRows = (r0: number, r1: number) => [row(r0, -1, tile, 0), row(r1 - 1, -1, tile, 1)];
  const ranges = (r0: number, r1: number): Range[] => [
    [inRows(r0, r1)[0] * w * cin, inRows(r0, r1)[1] * w * cin],
    [row(r0, 0, tile - 1, 0) * w * cout, row(r1 - 1, 0, tile - 1, 1) * w * cout],
  ];
  // F(4x4, 3x3)'s tile row reads 6 input rows, where F(2x2, 3x3)'s reads 4: so that a binding limit
  // that admits F(2x2, 3x3) admits it too (the variant never depends on the limit), its input
  // transform binds the band's input as two halves (rows [a, mid) and [mid, b)) when the whole
  // does not fit; each element is still read from the same place, so results do not change.
  const half = (r0: number, r1: number) => {
    const [a, b] = inRows(r0, r1);
    return a + Math.floor((b - a) / 2);
  };
  const planRanges = tile === 2 ? ranges : (r0: number, r1: number): Range[] => {
    const [a, b] = inRows(r0, r1);
    const mid = half(r0, r1);
    return [[a * w * cin, mid * w * cin], [mid * w * cin, b * w * cin], ranges(r0, r1)[1]];
  };
  // Bands: whole tile rows whose activations fit the planning limit (as for every op), each then cut
  // so that its scratch V and M stays within SCRATCH_BYTES (and the adapter's binding limit).
  const scratchRowBytes = (rows: number) => P * up(rows * tilesW, WINOGRAD_ROWS) * Math.max(kp, np) * 4;
  // At least one whole tile row (wide images with many channels need more than SCRATCH_BYTES for it).
  const scratchLimit = Math.min(Math.max(SCRATCH_BYTES, scratchRowBytes(1)), gpu.device.limits.maxStorageBufferBindingSize);
  const maxTexture = gpu.device.limits.maxTextureDimension2D; // V's texture rows: Tp * Kp / 4 / V_TEXTURE_WIDTH
  const vRows = (tiles: number) => vTextureRows(tiles, kp);
  const fits = (rows: number) => scratchRowBytes(rows) <= scratchLimit && (!vTexture || vRows(up(rows * tilesW, WINOGRAD_ROWS)) <= maxTexture);
  let maxRows = 1;
  while (maxRows < n * tilesH && fits(maxRows + 1)) maxRows++;
  if (scratchRowBytes(1) > scratchLimit) throw new Error(`${label} (winograd): one tile row needs ${scratchRowBytes(1)} bytes of scratch, above ${scratchLimit}`);
  if (!fits(1)) throw new Error(`${label} (winograd): V of one tile row needs ${vRows(up(tilesW, WINOGRAD_ROWS))} texture rows, above maxTextureDimension2D ${maxTexture}`);
  const bands = planBands(gpu, n * tilesH, planRanges, `${label} (winograd) [${x.shape}] -> [${y.shape}]`).flatMap(({ r0, r1 }) => {
    const cut = [];
    for (let a = r0; a < r1; a += maxRows) cut.push({ r0: a, r1: Math.min(r1, a + maxRows) });
    return cut;
  });
  const maxTp = Math.max(...bands.map((b) => tp(b.r0, b.r1)));
  // Subgroup core: V, then M, in one buffer, V copied into a texture; shared core: V and M apart.
  const v = gpu.empty([P, maxTp, vTexture ? Math.max(kp, np) : kp], `${label}.winograd.${vTexture ? 'VM' : 'V'}`);
  const m = vTexture ? v : gpu.empty([P, maxTp, np], `${label}.winograd.M`);
  // One V texture per tile size: grown as one, F(2x2)'s rows (4x F(4x4)'s tiles) times F(4x4)'s 36 layers.
  const vt = vTexture ? sharedTexture(gpu, `V${tile}`, `winograd F(${tile}x${tile},3x3) V`, 'rgba32float', 16, [V_TEXTURE_WIDTH, vRows(maxTp), P]) : undefined;
  const outputP = outputPipeline(gpu, tile, cout, act);
  const gemm = cores[core];
  const gemmP = gemm.pipeline(gpu);

  const uView = textureBinding(u);
  const opLabel = `${label} [${x.shape}]->[${y.shape}] k3x3s1 winograd F(${tile}x${tile},3x3)${core === 'shared' ? ' shared' : ''}`;
  const flops = 2 * n * h * w * cout * 9 * cin; // the direct convolution's, for effective rates
  bands.forEach(({ r0, r1 }, i) => {
    const [inR, outR] = ranges(r0, r1);
    const [t, tpb] = [(r1 - r0) * tilesW, tp(r0, r1)];
    const yb = gpu.bind(y, outR[0], outR[1]);
    const vb = scratch(v, P * tpb * kp);
    const mb = scratch(m, P * tpb * np);
    let xs: BoundRange[];
    let midRow = 0xffffffff; // flattened input row where the second binding starts (none: all from the first)
    if (tile === 2 || boundBytes(gpu, inR) <= gpu.maxBindingBytes) {
      xs = [gpu.bind(x, inR[0], inR[1])];
    } else {
      midRow = half(r0, r1);
      xs = [gpu.bind(x, inR[0], midRow * w * cin), gpu.bind(x, midRow * w * cin, inR[1])];
    }
    const params = packParams([h, w, cin, cout, tilesH, tilesW, r0, t, tpb, kp, np, xs[0].base, yb.base, midRow, xs[xs.length - 1].base]);
    const gemmParams = packParams([tpb, kp, np, P]);
    const inputP = inputPipeline(gpu, tile, cin, act, xs.length === 2);
    // Three passes, so that each stage has its own GPU time (labels `<op> input|gemm|output`; bench:profile
    // sums them by stage); the op's FLOPs are counted once, with its first pass.
    gpu.op(`${opLabel} input`, (pass) => gpu.dispatch(pass, inputP, params, [...xs.map((b) => b.binding), vb], Math.ceil((tpb * kp) / 4 / TRANSFORM_WG)), { flops: i === 0 ? flops : 0 });
    if (vt) copyV(gpu, opLabel, v, vt, tpb, kp, P);
    gpu.op(`${opLabel} gemm`, (pass) => gpu.dispatch(pass, gemmP, gemmParams, [vt ? textureBinding(vt) : vb, uView, mb], gemm.groups(tpb, np, P)));
    gpu.op(`${opLabel} output`, (pass) => gpu.dispatch(pass, outputP, params, [mb, gpu.bindWhole(k.bias), yb.binding], Math.ceil((t * Math.ceil(cout / 4)) / TRANSFORM_WG)));
  });
  v.release();
  if (m !== v) m.release();
  return y;
}
