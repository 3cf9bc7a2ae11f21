// 1x1 convolutions (and the Linear layers, which are 1x1 convs over a column of tokens) on the
// mask-free GEMM core of matmul.core.ts: for kernel 1x1, stride 1, no padding, the implicit GEMM of
// conv2d.ts is a plain one, with nothing to gather:
//
//   Y[M, Cout] = X[M, Cin] · W[Cin, Cout] + bias        M = output pixels (NHWC rows), K = Cin
//
// X is the NHWC input itself (row m = pixel m's Cin channels, contiguous), so the core's A is the input
// binding read as `array<vec4f>`; B is the weight in its GEMM layout [Cin, Cout], read 4 output
// channels at a time through `load_wt4` (any weight format, weight_format.ts). A workgroup (one
// subgroup of 8 lanes) computes a 32 x 32 tile of Y; workgroups walk the output channels fastest, so
// 32 rows of X stay in cache while they meet all of W. Against the direct vec4 subgroup kernel
// (conv2d.subgroup_vec4.ts: 16 rows per lane, per-load bounds selects and a clamped weight row) this
// does 32 rows per lane with no mask, select or clamp in the loop: 48 loads per 2048 FMAs instead of
// 48 per 1024 (measured: docs/benchmarks.md, "Hot spots outside Winograd").
//
// Applies when Cin % 32 == 0 and Cout % 32 == 0 (the core's K and N steps need no padding then), the
// activations are f32 (the core's A is vec4f) and the adapter has 8-lane subgroups. Rows past the
// band's M repeat its last pixel (clamped once, outside the loop) and are not stored, so any M works.
// It uses conv2d's params and bindings (ConvKernel), so conv2d's banding and dispatch serve it as they
// serve the direct kernels; each output is the same sum over ci in the same order whatever the band,
// so banded results equal unbanded ones bit for bit.

import type { Gpu } from '../gpu/gpu.js';
import { LINEAR_WORKGROUP } from '../gpu/wgsl.js';
import { CONV_PARAMS_STRUCT, type ConvKernel, type ConvPipelineShape } from './conv2d.common.js';
import { CORE_COLS, CORE_LANES, CORE_ROWS, gemmCoreWgsl } from './matmul.core.js';
import { weightWgsl, type WeightFormat } from './weight_format.js';
import type { ActivationDType } from './activation.js';

const each = (n: number, f: (i: number) => string) => [...Array(n).keys()].map(f).join('\n');

const wgsl = (format: WeightFormat) => /* wgsl */ `enable subgroups;
${CONV_PARAMS_STRUCT}
@group(0) @binding(1) var<storage, read> A: array<vec4f>;     // NHWC input [M, Cin] (a band of rows), Cin % 32 == 0
${weightWgsl(2, 'wt', format, true)}
@group(0) @binding(3) var<storage, read> bias: array<vec4f>;  // [Cout]
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>; // NHWC output [M, Cout] (a band of rows)
${LINEAR_WORKGROUP}

@compute @workgroup_size(${CORE_LANES})
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let K4 = p.Cin / 4u;
  let N4 = p.Cout / 4u;
  let tilesN = p.Cout / ${CORE_COLS}u;
  let g = linear_workgroup(wid, nwg);
  if (g >= ((p.M + ${CORE_ROWS - 1}u) / ${CORE_ROWS}u) * tilesN) { return; } // uniform per workgroup
  let m0 = (g / tilesN) * ${CORE_ROWS}u;
  let n4 = (g % tilesN) * ${CORE_COLS / 4}u + lane; // this lane's vec4 of output channels
  let a0 = p.inBase / 4u;
${each(CORE_ROWS, (r) => `  let aRow${r} = (p.pix0 + min(m0 + ${r}u, p.M - 1u)) * K4 - a0;`)}
${gemmCoreWgsl((k) => `load_wt4((${k}) * N4 + n4)`)}
  let b = bias[n4];
  let o0 = p.outBase / 4u;
${each(CORE_ROWS, (r) => `  if (m0 + ${r}u < p.M) { y[(p.pix0 + m0 + ${r}u) * N4 + n4 - o0] = acc${r} + b; }`)}
}
`;

/** Whether the GEMM-core 1x1 kernel computes this conv (else conv2d's direct kernels do). */
export function pointwiseGemmApplies(gpu: Gpu, k: { cin: number; cout: number; kh: number; kw: number }, stride: number, pad: readonly number[], act: ActivationDType): boolean {
  const { subgroups, subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.features;
  return (
    pointwisePolicy.enabled &&
    subgroups && lo === CORE_LANES && hi === CORE_LANES &&
    k.kh === 1 && k.kw === 1 && stride === 1 && pad.every((v) => v === 0) &&
    k.cin % CORE_ROWS === 0 && k.cout % CORE_COLS === 0 && act === 'f32' &&
    gpu.storageAlign % 16 === 0 // band offsets land on whole vec4s
  );
}

/** `enabled: false` sends 1x1 convs back to the direct kernels (A/B benchmarks, tests). */
export const pointwisePolicy = { enabled: true };

export const pointwiseGemmKernel: ConvKernel = {
  tileM: CORE_ROWS,
  tileN: CORE_COLS,
  pipeline(gpu: Gpu, { cin, cout, format, act }: ConvPipelineShape) {
    if (!pointwiseGemmApplies(gpu, { cin, cout, kh: 1, kw: 1 }, 1, [0, 0, 0, 0], act))
      throw new Error(`conv1x1.gemm: needs 8-lane subgroups, Cin and Cout multiples of 32 and f32 activations (got ${cin} -> ${cout}, ${act})`);
    return gpu.pipeline(`conv1x1.gemm.${format}`, () => wgsl(format));
  },
};
