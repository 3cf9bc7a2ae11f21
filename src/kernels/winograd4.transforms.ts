// Winograd F(4x4, 3x3) transforms (Lavin & Gray 2015; Toom-Cook with 5 finite interpolation points
// plus ∞). A 4x4 block of outputs of a 3x3 convolution is computed from the 6x6 input tile d around
// it as
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (⊙: element-wise, summed over input channels)
//
// 36 multiplies per channel pair replace 144: 4x fewer (F(2x2, 3x3): 2.25x). The price is accuracy:
// the transforms have large coefficients, so f32 rounding errors grow. Points: (0, 1, -1, 2, -1/2)
// rather than Lavin's (0, ±1, ±2): same speed (the GEMMs do not care), but Aᵀ's largest entries
// are 8 and 1/8 instead of 8 and -8 and Bᵀ's 5/2 instead of 5, which measured ~2x smaller errors
// (a float32 simulation of this kernel on the reference cases: 128 -> 128 16x16, max abs error
// 3.1e-5 with (0, ±1, ±2), 1.3e-5 with these points; the choice after Barabasz et al., "Error
// analysis and improving the accuracy of Winograd convolution for deep neural networks", 2019).
// All entries of Bᵀ and Aᵀ are exact in binary; G's rows are integer combinations divided by 1, 3
// or 15 (one rounding). test/kernels/winograd4.test.ts checks in float64 that these matrices compute
// the direct convolution; the WGSL is generated from them by winograd.generator.ts, as F(2x2, 3x3)'s
// (sums in column order, zeros skipped; one invocation per (tile, 4 channels); x / y stored f32 or
// f16, V, M and the transform arithmetic f32).

import { winogradPipelines } from './winograd.generator.js';

/** The finite interpolation points (the sixth is ∞). */
export const POINTS4 = [0, 1, -1, 2, -1 / 2];
/** Bᵀ (6x6): V = Bᵀ d B. */
export const BT4 = [
  [1, 3 / 2, -2, -3 / 2, 1, 0],
  [0, -1, -5 / 2, -1 / 2, 1, 0],
  [0, 1, 1 / 2, -5 / 2, 1, 0],
  [0, -1 / 2, -1, 1 / 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 1, 3 / 2, -2, -3 / 2, 1],
];
/** G (6x3) as integer rows over a denominator: G[j] = G4_NUM[j] / G4_DEN[j]; U = G g Gᵀ. */
export const G4_NUM = [
  [1, 0, 0],
  [-1, -1, -1],
  [1, -1, 1],
  [1, 2, 4],
  [-16, 8, -4],
  [0, 0, 1],
];
export const G4_DEN = [1, 3, 3, 15, 15, 1];
export const G4 = G4_NUM.map((row, j) => row.map((v) => v / G4_DEN[j]));
/** Aᵀ (4x6): Y = Aᵀ M A. */
export const AT4 = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -1 / 2, 0],
  [0, 1, 1, 4, 1 / 4, 0],
  [0, 1, -1, 8, -1 / 8, 1],
];

// Two input bindings: F(4x4, 3x3)'s tile rows read 6 input rows, so winograd.ts may split a band's
// input in two to fit the binding limit that admits F(2x2, 3x3).
const f4 = winogradPipelines({ key: 'winograd4', tile: 4, BT: BT4, G_NUM: G4_NUM, G_DEN: G4_DEN, AT: AT4, splitInput: true });

export const winograd4WeightPipeline = f4.weight;
export const winograd4InputPipeline = f4.input;
export const winograd4OutputPipeline = f4.output;
