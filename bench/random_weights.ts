// Random parameters of the full-size models' real names and shapes (the manifests in
// test/fixtures/reference/manifests), for measurements that need no real weights (bench/models.ts,
// bench/f16_fullsize.ts): one generator, seed and scale, so every benchmark sees the same weights.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { f32Entry, ParamLoader, type ParamSource } from '../src/models/params.js';
import type { WeightStorage } from '../src/kernels/weight_format.js';

const root = join(import.meta.dirname, '..', '..');

interface Manifest {
  config: Record<string, unknown>;
  keys: { key: string; shape: number[] }[];
}

/**
 * The manifest's names and shapes, each name's random values (drawn in the order names are asked for).
 * `onValues` sees each tensor's values as they are made (bench/ort.ts hands the same weights to ONNX Runtime).
 */
export function randomSource(file: string, onValues?: (name: string, shape: readonly number[], values: Float32Array) => void): { source: ParamSource; names: string[]; config: Record<string, unknown> } {
  const m: Manifest = JSON.parse(readFileSync(join(root, 'test/fixtures/reference/manifests', file), 'utf8'));
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const shapes = new Map(m.keys.map((k) => [k.key, k.shape]));
  const source: ParamSource = (name) => {
    const shape = shapes.get(name);
    if (!shape) return undefined;
    return f32Entry(shape, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length > 1 ? n / shape[0] : 1;
      const isNormWeight = /norm.*weight$/.test(name);
      const values = Float32Array.from({ length: n }, () => (isNormWeight ? 1 + 0.1 * rand() : name.endsWith('bias') ? 0.1 * rand() : (1.7 * rand()) / Math.sqrt(fanIn)));
      onValues?.(name, shape, values);
      return values;
    });
  };
  return { source, names: [...shapes.keys()], config: m.config };
}

/** Random parameters of the manifest's names and shapes, scaled like the reference (so activations stay O(1)). */
export function randomLoader(file: string, storage: WeightStorage = 'as-stored', onValues?: (name: string, shape: readonly number[], values: Float32Array) => void): { p: ParamLoader; config: Record<string, unknown> } {
  const { source, names, config } = randomSource(file, onValues);
  return { p: ParamLoader.from(source, names, file, { storage }), config };
}
