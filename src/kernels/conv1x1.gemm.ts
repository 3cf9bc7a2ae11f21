// 1x1 convolutions (and the Linear layers, which are 1x1 convs over a column of tokens) on the
// mask-free GEMM core of matmul.core.ts: for kernel 1x1, stride 1, no padding, the implicit GEMM of
// conv2d.ts is a plain one, with nothing to gather:
//
//   Y[M, Cout] = X[M, Cin] · W[Cin, Cout] + bias        M = output pixels (NHWC rows), K = Cin
//
// X is the NHWC input itself (row m = pixel m's Cin channels, contiguous), so the core's A is the input
// binding read as `array<vec4f>`. B, the weight in its GEMM layout [Cin, Cout], is read 4 output
// channels at a time from a texture where the weight is f32 or f16: a copy of the weight's buffer into
// a shared texture (rgba32float / rgba16float texels, the [Cin, Cout / 4] texels row-major wrapped into
// rows of W1X1_TEXTURE_WIDTH; shared_textures.ts) made before each use, because lavapipe fetches a
// texel as one 16-byte load per lane where a vec4 storage load is four bounds-checked scalar loads (the
// Winograd GEMM's reason too; measured: docs/benchmarks.md). BF16 weights, which no texture format
// holds, are read from their buffer through `load_wt4` (weight_format.ts). A workgroup (one subgroup of
// 8 lanes) computes a POINTWISE_ROWS x 32 tile of Y; workgroups walk the output channels fastest, so
// the rows of X stay in cache while they meet all of W. Against the direct vec4 subgroup kernel
// (conv2d.subgroup_vec4.ts: 16 rows per lane, per-load bounds selects and a clamped weight row) this
// has no mask, select or clamp in the loop.
//
// Applies when Cin % 32 == 0 and Cout % 32 == 0 (the core's K and N steps need no padding then), the
// activations are f32 (the core's A is vec4f) and the adapter has 8-lane subgroups. Rows past the
// band's M repeat its last pixel (clamped once, outside the loop) and are not stored, so any M works.
// It uses conv2d's params and bindings (ConvKernel), so conv2d's banding and dispatch serve it as they
// serve the direct kernels; each output is the same sum over ci in the same order whatever the band,
// so banded results equal unbanded ones bit for bit (and the texture holds the weight's values
// exactly: f16 texels are the f16 weights).

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { CONV_PARAMS_STRUCT, type ConvKernel, type ConvPipelineShape, type KernelWeight } from './conv2d.common.js';
import { CORE_COLS, CORE_K, CORE_LANES, gemmCoreWgsl } from './matmul.core.js';
import { sharedTexture, textureBinding } from './shared_textures.js';
import { weightWgsl, type WeightFormat } from './weight_format.js';
import type { ActivationDType } from './activation.js';

const each = (n: number, f: (i: number) => string) => [...Array(n).keys()].map(f).join('\n');

/** Rows of Y per workgroup (as the Winograd GEMM's: each B texel fetched feeds 64 rows). */
export const POINTWISE_ROWS = 64;
/** Texels per row of the weight's texture (4 KiB or 2 KiB: whole multiples of 256 bytes, as copies need; Cin * Cout / 4 is a multiple of it). */
export const W1X1_TEXTURE_WIDTH = 256;

/** The weight formats the texture holds exactly, and their texels. */
const TEXEL = { f32: { format: 'rgba32float', bytes: 16 }, f16: { format: 'rgba16float', bytes: 8 } } as const;
const inTexture = (format: WeightFormat): format is keyof typeof TEXEL => format in TEXEL;

const wgsl = (format: WeightFormat) => /* wgsl */ `enable subgroups;
${CONV_PARAMS_STRUCT}
@group(0) @binding(1) var<storage, read> A: array<vec4f>;     // NHWC input [M, Cin] (a band of rows), Cin % 32 == 0
${inTexture(format) ? `@group(0) @binding(2) var W: texture_2d<f32>;                // weight [Cin, Cout / 4] texels, wrapped (${format} values)` : weightWgsl(2, 'wt', format, true)}
@group(0) @binding(3) var<storage, read> bias: array<vec4f>;  // [Cout]
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>; // NHWC output [M, Cout] (a band of rows)
${LINEAR_WORKGROUP}

@compute @workgroup_size(${CORE_LANES})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let K4 = p.Cin / 4u;
  let N4 = p.Cout / 4u;
  let tilesN = p.Cout / ${CORE_COLS}u;
  let g = linear_workgroup(wid, nwg);
  if (g >= ((p.M + ${POINTWISE_ROWS - 1}u) / ${POINTWISE_ROWS}u) * tilesN) { return; } // uniform per workgroup
  let m0 = (g / tilesN) * ${POINTWISE_ROWS}u;
  let n4 = (g % tilesN) * ${CORE_COLS / 4}u + lane; // this lane's vec4 of output channels
  let a0 = p.inBase / 4u;
${each(POINTWISE_ROWS, (r) => `  let aRow${r} = (p.pix0 + min(m0 + ${r}u, p.M - 1u)) * K4 - a0;`)}
${gemmCoreWgsl((k) => (inTexture(format) ? `textureLoad(W, wtexel((${k}) * N4 + n4), 0)` : `load_wt4((${k}) * N4 + n4)`), POINTWISE_ROWS)}
  let b = bias[n4];
  let o0 = p.outBase / 4u;
${each(POINTWISE_ROWS, (r) => `  if (m0 + ${r}u < p.M) { y[(p.pix0 + m0 + ${r}u) * N4 + n4 - o0] = acc${r} + b; }`)}
}
${inTexture(format) ? `fn wtexel(i: u32) -> vec2u { return vec2u(i % ${W1X1_TEXTURE_WIDTH}u, i / ${W1X1_TEXTURE_WIDTH}u); }` : ''}
`;

/** Whether the GEMM-core 1x1 kernel computes this conv (else conv2d's direct kernels do). */
export function pointwiseGemmApplies(gpu: Gpu, k: { cin: number; cout: number; kh: number; kw: number }, stride: number, pad: readonly number[], act: ActivationDType): boolean {
  const { subgroups, subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.features;
  return (
    pointwisePolicy.enabled &&
    subgroups && lo === CORE_LANES && hi === CORE_LANES &&
    k.kh === 1 && k.kw === 1 && stride === 1 && pad.every((v) => v === 0) &&
    k.cin % CORE_K === 0 && k.cout % CORE_COLS === 0 && act === 'f32' &&
    (k.cin * k.cout) / 4 / W1X1_TEXTURE_WIDTH <= gpu.device.limits.maxTextureDimension2D && // the weight's texture rows
    gpu.storageAlign % 16 === 0 // band offsets land on whole vec4s
  );
}

/** `enabled: false` sends 1x1 convs back to the direct kernels (A/B benchmarks, tests). */
export const pointwisePolicy = { enabled: true };

export const pointwiseGemmKernel: ConvKernel = {
  tileM: POINTWISE_ROWS,
  tileN: CORE_COLS,
  pipeline(gpu: Gpu, { cin, cout, format, act }: ConvPipelineShape) {
    if (!pointwiseGemmApplies(gpu, { cin, cout, kh: 1, kw: 1 }, 1, [0, 0, 0, 0], act))
      throw new Error(`conv1x1.gemm: needs 8-lane subgroups, Cin and Cout multiples of 32 and f32 activations (got ${cin} -> ${cout}, ${act})`);
    return gpu.pipeline(`conv1x1.gemm.${format}`, () => wgsl(format));
  },
  /** The weight as this kernel reads it: f32 / f16 copied into the shared texture, BF16 its buffer. */
  weightBinding(gpu: Gpu, k: KernelWeight, label: string): GPUBufferBinding {
    if (!inTexture(k.format)) return gpu.bindWhole(k.w);
    const { format, bytes } = TEXEL[k.format];
    const rows = (k.cin * k.cout) / 4 / W1X1_TEXTURE_WIDTH;
    const t = sharedTexture(gpu, `W1x1.${format}`, `1x1 conv weight (${format})`, format, bytes, [W1X1_TEXTURE_WIDTH, rows, 1]);
    gpu.copyToTexture(label, { buffer: k.w.buffer, offset: k.w.offset, bytesPerRow: W1X1_TEXTURE_WIDTH * bytes, rowsPerImage: rows }, { texture: t }, [W1X1_TEXTURE_WIDTH, rows, 1]);
    return textureBinding(t, '2d');
  },
};
