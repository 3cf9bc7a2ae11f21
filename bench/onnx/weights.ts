// Where the ONNX graph's weights come from: a checkpoint on disk (the tiny reference VAE in the test)
// or an in-memory table (the random full-size weights bench/ort.ts captures while this project's model
// loads them, so both runtimes run the same numbers). Either way a wrong name or shape is an error that
// names the tensor, never a silently zero weight.

import type { Checkpoint } from '../../src/io/weights.js';
import { decodeParam } from '../../src/models/params.js';
import type { WeightGetter } from './graph.js';

function checkShape(what: string, name: string, got: readonly number[], want: readonly number[]): void {
  if (got.length !== want.length || got.some((v, i) => v !== want[i])) throw new Error(`${what}: tensor ${name} is [${got}], the ONNX graph expects [${want}]`);
}

/** Weights read from an opened checkpoint (a synchronous source: safetensors or a PyTorch file). */
export function checkpointWeights(ckpt: Checkpoint): WeightGetter {
  return (name, shape) => {
    const e = ckpt.source(name);
    if (!e) throw new Error(`${ckpt.weightsFile}: no tensor ${name} (the ONNX graph needs it, shape [${shape}])`);
    checkShape(ckpt.weightsFile, name, e.shape, shape);
    const bytes = e.bytes();
    if (bytes instanceof Promise) throw new Error(`${ckpt.weightsFile}: ${name} comes from an asynchronous source`);
    return decodeParam(e.dtype, bytes);
  };
}

/** Weights from a table of named f32 tensors. */
export function tableWeights(table: Map<string, { shape: readonly number[]; values: Float32Array }>, what: string): WeightGetter {
  return (name, shape) => {
    const t = table.get(name);
    if (!t) throw new Error(`${what}: no tensor ${name} (the ONNX graph needs it, shape [${shape}])`);
    checkShape(what, name, t.shape, shape);
    return t.values;
  };
}
