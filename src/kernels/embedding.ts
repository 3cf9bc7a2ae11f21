// Embedding lookup: y[b, :] = table[ids[b], :] (nn.Embedding; the consistency UNet's learned time
// embedding `time_proj`). The ids are host values (timesteps), passed in the params uniform.

import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { packParams } from '../gpu/wgsl.js';

const MAX_IDS = 60;

const wgsl = () => /* wgsl */ `
struct Params { num: u32, dim: u32, count: u32, pad: u32, ids: array<vec4u, ${MAX_IDS / 4}> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;   // [num, dim]
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // [count, dim]
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.count * p.dim) { return; }
  let b = i / p.dim;
  y[i] = table[p.ids[b / 4u][b % 4u] * p.dim + i % p.dim];
}`;

/** table [num, dim], ids (each in [0, num)) -> [ids.length, dim]. */
export function embedding(gpu: Gpu, table: Tensor, ids: readonly number[], label = 'embedding'): Tensor {
  const [num, dim] = table.shape;
  if (ids.length < 1 || ids.length > MAX_IDS) throw new Error(`${label}: ${ids.length} ids (1 to ${MAX_IDS} supported per call)`);
  for (const id of ids)
    if (!Number.isInteger(id) || id < 0 || id >= num) throw new Error(`${label}: id ${id} is outside [0, ${num})`);
  const y = gpu.empty([ids.length, dim], label);
  const idWords = Array.from({ length: MAX_IDS }, (_, i) => ids[i] ?? 0);
  const pipe = gpu.pipeline('embedding', wgsl);
  gpu.op(`${label} [${ids.length}]`, (pass) =>
    gpu.dispatch(pass, pipe, packParams([num, dim, ids.length, 0, ...idWords]), [gpu.bindWhole(table), gpu.bind(y).binding], Math.ceil((ids.length * dim) / 64)),
  );
  return y;
}
