// A conv weight from PyTorch's layout to conv2d's GEMM layout, on the GPU:
//
//   w_gemm[((ky * kw + kx) * Cin + ci) * Cout + co] = w_torch[((co * Cin + ci) * kh + ky) * kw + kx]
//
// A pure permutation of bits in the weight's storage format (f32, or f16 / bf16 packed two per u32:
// weight_format.ts), so it is exact in every format and never rounds a value. Loading does it here
// rather than on the CPU: the checkpoint's bytes go to the GPU as they were read, and the reorder
// (1.3 s of a full SD VAE load in JavaScript on a 2-CPU machine, docs/benchmarks.md "Whole process")
// runs on the device, overlapped with reading the next tensor. convToGemmLayout (weight_format.ts)
// is the CPU form, kept as the reference the tests compare against.
//
// Layout: `src` [Cout, Cin, kh, kw] as uploaded (32-bit words), `dst` [kh*kw*Cin, Cout] in the same
// format. One invocation per output word (one element in f32, two neighbouring elements in 16 bits,
// each gathered from its own source half-word), consecutive invocations writing consecutive words.
// The reads are strided (Cin*kh*kw apart); a load is a one-off memory pass, not worth tiling.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { LINEAR_WORKGROUP, packParams } from '../gpu/wgsl.js';
import { packWords, type RawWeight } from './weight_format.js';

const wgsl = (halves: boolean) => /* wgsl */ `
struct Params { cout: u32, cin: u32, taps: u32, n: u32 }   // n: elements (Cout * Cin * taps)
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;        // [Cout, Cin, taps] (PyTorch)
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;  // [taps, Cin, Cout] (GEMM)
${LINEAR_WORKGROUP}
// The source element that lands at GEMM element i.
fn source_of(i: u32) -> u32 {
  let co = i % p.cout;
  let row = i / p.cout;             // t * Cin + ci
  let ci = row % p.cin;
  let t = row / p.cin;
  return (co * p.cin + ci) * p.taps + t;
}
${halves ? /* wgsl */ `
// Element e of a 16-bit weight: half (e & 1) of word e / 2.
fn half_at(e: u32) -> u32 { return (src[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu; }` : ''}
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linear_workgroup(wid, nwg) * 256u + lid;   // output word
${halves ? /* wgsl */ `
  let i = 2u * j;
  if (i >= p.n) { return; }
  var hi = 0u;                                       // the padding half of an odd count stays zero
  if (i + 1u < p.n) { hi = half_at(source_of(i + 1u)); }
  dst[j] = half_at(source_of(i)) | (hi << 16u);` : /* wgsl */ `
  if (j >= p.n) { return; }
  dst[j] = src[source_of(j)];`}
}`;

/**
 * Writes `weight` (PyTorch layout [Cout, Cin, kh, kw], already in dst's format) into `dst` in GEMM
 * layout: the raw words are uploaded to a staging tensor of the same size, permuted into dst by one
 * dispatch, and the staging tensor is destroyed (WebGPU frees it once that dispatch has run).
 */
export function uploadConvWeight(gpu: Gpu, weight: RawWeight, dst: Tensor, cout: number, cin: number, kh: number, kw: number): void {
  if (weight.format !== dst.dtype) throw new Error(`${dst.label}: a ${weight.format} weight for a ${dst.dtype} tensor (convert it first)`);
  const n = cout * cin * kh * kw;
  if (dst.size !== n) throw new Error(`${dst.label}: ${dst.size} elements, expected [${cout}, ${cin}, ${kh}, ${kw}]`);
  const words = packWords(weight);
  const staging = gpu.empty([n], `${dst.label} (PyTorch layout)`, dst.dtype, true);
  try {
    gpu.writeBuffer(staging.buffer, staging.offset, words);
    const halves = dst.dtype !== 'f32';
    const pipe = gpu.pipeline(`conv weight layout ${halves ? '16-bit' : 'f32'}`, () => wgsl(halves));
    const outWords = halves ? Math.ceil(n / 2) : n;
    gpu.op(`${dst.label} to GEMM layout [${cout}x${cin}x${kh}x${kw}]`, (pass) =>
      gpu.dispatch(pass, pipe, packParams([cout, cin, kh * kw, n]), [gpu.bindWhole(staging), gpu.bindWhole(dst)], Math.ceil(outWords / 256)),
    );
  } finally {
    staging.destroy();
  }
}
