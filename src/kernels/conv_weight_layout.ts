// A conv weight from PyTorch's layout to conv2d's GEMM layout, on the GPU:
//
//   w_gemm[((ky * kw + kx) * Cin + ci) * Cout + co] = w_torch[((co * Cin + ci) * kh + ky) * kw + kx]
//
// A pure permutation of bits in the weight's storage format (f32, or f16 / bf16 packed two per u32:
// weight_format.ts), so it is exact in every format and never rounds a value. Loading does it here
// rather than on the CPU: the checkpoint's bytes go to the GPU as they were read, and the reorder
// (1.3 s of a full SD VAE load in JavaScript on a 2-CPU machine, docs/benchmarks.md "Whole process")
// runs on the device. convToGemmLayout (weight_format.ts) is the CPU form: the tests' reference, and
// the path for the shapes this kernel leaves out (below).
//
// Layout: `src` [Cout, Cin, taps] as uploaded (32-bit words), `dst` [taps, Cin, Cout] in the same
// format. Grid: one workgroup row per GEMM row r = t * Cin + ci (so the divisions are per workgroup),
// 256 consecutive output words of that row per workgroup. A word is one element in f32 and the two
// neighbouring output channels co, co + 1 in 16 bits, each gathered from its own source half-word
// (hence 16-bit weights need an even Cout: an odd one would pair channels of two rows). The reads are
// strided (Cin * taps apart); a load is a one-off memory pass, not worth tiling.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { packParams } from '../gpu/wgsl.js';
import { convToGemmLayout, packWords, type RawWeight } from './weight_format.js';

const MAX_ROWS = 65535; // the grid's y extent

const wgsl = (halves: boolean) => /* wgsl */ `
struct Params { cout: u32, cin: u32, taps: u32, row_words: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;        // [Cout, Cin, taps] (PyTorch)
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;  // [taps, Cin, Cout] (GEMM)
${halves ? /* wgsl */ `
// Element e of a 16-bit weight: half (e & 1) of word e / 2.
fn half_at(e: u32) -> u32 { return (src[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu; }` : ''}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let word = wid.x * 256u + lid;       // within GEMM row r
  if (word >= p.row_words) { return; }
  let r = wid.y;                       // t * Cin + ci
  let k = (r % p.cin) * p.taps + r / p.cin;   // ci * taps + t: the source column
  let stride = p.cin * p.taps;         // one output channel in the source
${halves ? /* wgsl */ `
  let co = 2u * word;
  let e = co * stride + k;
  dst[r * p.row_words + word] = half_at(e) | (half_at(e + stride) << 16u);` : /* wgsl */ `
  dst[r * p.row_words + word] = src[word * stride + k];`}
}`;

/** Whether the kernel takes this shape (else the CPU reorder runs). */
const onGpu = (format: RawWeight['format'], cout: number, rows: number) => rows <= MAX_ROWS && (format === 'f32' || cout % 2 === 0);

/**
 * Writes `weight` (PyTorch layout [Cout, Cin, kh, kw], already in dst's format) into `dst` in GEMM
 * layout: the raw words are uploaded to a staging tensor of the same size, permuted into dst by one
 * dispatch, and the staging tensor is destroyed (WebGPU frees it once that dispatch has run).
 */
export function uploadConvWeight(gpu: Gpu, weight: RawWeight, dst: Tensor, cout: number, cin: number, kh: number, kw: number): void {
  if (weight.format !== dst.dtype) throw new Error(`${dst.label}: a ${weight.format} weight for a ${dst.dtype} tensor (convert it first)`);
  const n = cout * cin * kh * kw;
  if (dst.size !== n) throw new Error(`${dst.label}: ${dst.size} elements, expected [${cout}, ${cin}, ${kh}, ${kw}]`);
  const rows = kh * kw * cin;
  if (!onGpu(weight.format, cout, rows)) return gpu.writeBuffer(dst.buffer, dst.offset, packWords(convToGemmLayout(weight, cout, cin, kh, kw)));
  const staging = gpu.empty([n], `${dst.label} (PyTorch layout)`, dst.dtype, true);
  try {
    gpu.writeBuffer(staging.buffer, staging.offset, packWords(weight));
    const halves = dst.dtype !== 'f32';
    const pipe = gpu.pipeline(`conv weight layout ${halves ? '16-bit' : 'f32'}`, () => wgsl(halves));
    const rowWords = halves ? cout / 2 : cout;
    gpu.op(`${dst.label} to GEMM layout [${cout}x${cin}x${kh}x${kw}]`, (pass) =>
      gpu.dispatch(pass, pipe, packParams([cout, cin, kh * kw, rowWords]), [gpu.bindWhole(staging), gpu.bindWhole(dst)], [Math.ceil(rowWords / 256), rows, 1]),
    );
  } finally {
    staging.destroy();
  }
}
