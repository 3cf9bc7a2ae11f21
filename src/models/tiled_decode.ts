// Tiled SD VAE decoding, as diffusers' AutoencoderKL.tiled_decode: OFF by default and APPROXIMATE.
//
// The latent is cut into overlapping tiles (64x64 latent pixels, 25 % overlap by default), each is
// decoded on its own, and neighbouring tiles are blended linearly over the overlap. Each tile has its
// own GroupNorm statistics and sees only its own context, so the result differs from a full decode
// (faint seams or tone shifts are possible). This project does not need tiling for correctness:
// tensors larger than a binding are banded exactly (see gpu/bands.ts). Tiling only lowers the peak
// memory for very large images; prefer the plain decode when it fits.

import type { Tensor } from '../gpu/tensor.js';
import type { AutoencoderKL } from './autoencoder_kl.js';

export interface TiledDecodeOptions {
  /** Tile side in latent pixels (diffusers: sample_size / 8 = 64). */
  tile?: number;
  /** Fraction of a tile that overlaps its neighbour (diffusers: 0.25). */
  overlap?: number;
}

/** latent [1, h, w, C] (unscaled) -> image [1, h·f, w·f, 3], decoded tile by tile. */
export async function tiledDecode(vae: AutoencoderKL, latent: Tensor, opts: TiledDecodeOptions = {}): Promise<Tensor> {
  const gpu = vae.gpu;
  const [n, h, w, c] = latent.shape;
  if (n !== 1) throw new Error(`tiledDecode: one latent at a time (got a batch of ${n})`);
  const tile = opts.tile ?? 64;
  const overlap = opts.overlap ?? 0.25;
  if (!(overlap >= 0 && overlap < 1) || tile < 2) throw new Error(`tiledDecode: tile ${tile} and overlap ${overlap} (need tile >= 2, 0 <= overlap < 1)`);
  const f = vae.downscale;
  const stride = Math.max(1, Math.floor(tile * (1 - overlap))); // latent pixels between tile starts
  const keep = stride * f; // image pixels each tile contributes (tiles start `keep` apart)
  const blend = tile * f - keep; // image pixels blended between neighbours
  const z = await latent.read(); // NHWC
  const [H, W] = [h * f, w * f];
  const out = new Float32Array(H * W * 3);
  const rows: { data: Float32Array; th: number; tw: number }[][] = [];
  for (let i = 0; i < h; i += stride) {
    const row: { data: Float32Array; th: number; tw: number }[] = [];
    for (let j = 0; j < w; j += stride) {
      const [th, tw] = [Math.min(tile, h - i), Math.min(tile, w - j)];
      const part = new Float32Array(th * tw * c);
      for (let y = 0; y < th; y++) part.set(z.subarray(((i + y) * w + j) * c, ((i + y) * w + j + tw) * c), y * tw * c);
      const t = gpu.upload(part, [1, th, tw, c], 'latent_tile');
      const img = vae.decode(t);
      t.release();
      const data = await img.read();
      img.release();
      const cur = { data, th: th * f, tw: tw * f };
      const up = rows.length ? rows[rows.length - 1][row.length] : undefined;
      if (up) blendVertical(up, cur, blend);
      if (row.length) blendHorizontal(row[row.length - 1], cur, blend);
      row.push(cur);
      // Each tile keeps its top-left keep x keep part (the rest is covered by later tiles' blends).
      for (let y = 0; y < Math.min(keep, cur.th); y++)
        for (let x = 0; x < Math.min(keep, cur.tw); x++) {
          const [oy, ox] = [i * f + y, j * f + x];
          if (oy < H && ox < W) for (let k = 0; k < 3; k++) out[(oy * W + ox) * 3 + k] = data[(y * cur.tw + x) * 3 + k];
        }
    }
    rows.push(row);
  }
  return gpu.upload(out, [1, H, W, 3], 'image');
}

type Tile = { data: Float32Array; th: number; tw: number };

/** diffusers blend_v: the top `extent` rows of b fade in from the bottom rows of a. */
function blendVertical(a: Tile, b: Tile, extent: number): void {
  const e = Math.min(a.th, b.th, extent);
  for (let y = 0; y < e; y++)
    for (let x = 0; x < Math.min(a.tw, b.tw); x++)
      for (let k = 0; k < 3; k++) {
        const ia = ((a.th - e + y) * a.tw + x) * 3 + k;
        const ib = (y * b.tw + x) * 3 + k;
        b.data[ib] = a.data[ia] * (1 - y / e) + b.data[ib] * (y / e);
      }
}

/** diffusers blend_h: the left `extent` columns of b fade in from the right columns of a. */
function blendHorizontal(a: Tile, b: Tile, extent: number): void {
  const e = Math.min(a.tw, b.tw, extent);
  for (let y = 0; y < Math.min(a.th, b.th); y++)
    for (let x = 0; x < e; x++)
      for (let k = 0; k < 3; k++) {
        const ia = (y * a.tw + a.tw - e + x) * 3 + k;
        const ib = (y * b.tw + x) * 3 + k;
        b.data[ib] = a.data[ia] * (1 - x / e) + b.data[ib] * (x / e);
      }
}
