// Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): a
// 2x2 block of outputs of a 3x3 convolution from the 4x4 input tile d around it,
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (⊙: element-wise, summed over input channels)
//
// so 16 multiplies per channel pair replace 36: 2.25x fewer. All coefficients are 0, ±1 or ±1/2
// (exact in binary), so the only extra rounding is from the additions. The WGSL of the three
// transforms is generated from these matrices (winograd.generator.ts, as for F(4x4, 3x3) in
// winograd4.transforms.ts); test/kernels/winograd4.test.ts checks both sets in float64 against the
// direct convolution.

import { TRANSFORM_WG, winogradPipelines } from './winograd.generator.js';

export { TRANSFORM_WG };

/** Bᵀ (4x4): V = Bᵀ d B. */
export const BT2 = [
  [1, 0, -1, 0],
  [0, 1, 1, 0],
  [0, -1, 1, 0],
  [0, 1, 0, -1],
];
/** G (4x3) as integer rows over a denominator: G[j] = G2_NUM[j] / G2_DEN[j]; U = G g Gᵀ. */
export const G2_NUM = [
  [1, 0, 0],
  [1, 1, 1],
  [1, -1, 1],
  [0, 0, 1],
];
export const G2_DEN = [1, 2, 2, 1];
export const G2 = G2_NUM.map((row, j) => row.map((v) => v / G2_DEN[j]));
/** Aᵀ (2x4): Y = Aᵀ M A. */
export const AT2 = [
  [1, 1, 1, 0],
  [0, 1, -1, -1],
];

// One input binding: F(2x2, 3x3)'s tile rows read 4 input rows, which winograd.ts never splits.
const f2 = winogradPipelines({ key: 'winograd', tile: 2, BT: BT2, G_NUM: G2_NUM, G_DEN: G2_DEN, AT: AT2, splitInput: false });

export const winogradWeightPipeline = f2.weight;
/** The input transform's pipeline: vec4 loads of the activation when Cin % 4 == 0. */
export const winogradInputPipeline = f2.input;
/** The output transform's pipeline: vec4 stores of the activation when Cout % 4 == 0. */
export const winogradOutputPipeline = f2.output;
