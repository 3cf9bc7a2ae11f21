// Shared transient textures: one texture per Gpu and purpose (Winograd's U made at each use, per tile
// size and format: winograd.weights.ts; Winograd's V, its GEMM's left operand, per tile size: winograd.ts; the 1x1
// convs' weight: conv1x1.gemm.ts), grown to the largest use so far and reused by every layer, so a
// model holds one of each, not one per layer. They exist because lavapipe fetches texels faster than
// it loads storage (matmul.core.ts).
// Each is a Gpu.texture (counted in the pool's statistics) and lives until releaseSharedTextures.
//
// Inside a plan (Gpu.plan) nothing real may change, but the plan must count what the real run will
// hold: a plan-local texture stands in for each one the real run would grow (and the one it would
// destroy is counted out), dropped when the plan ends. Each growth is announced to the plan (Gpu.ahead),
// so the plan's first real run can grow the texture to its final size, and make its views, before its
// first op, while the queue is idle (gpu/ahead.ts).

import type { Gpu } from '../gpu/gpu.js';

type Size = [number, number, number];
interface Shared {
  t: GPUTexture;
  size: Size;
}

const real = new WeakMap<Gpu, Map<string, Shared>>();
const planned = new WeakMap<Gpu, Map<string, Shared>>();
// Written by copies, read by textureLoad (a function: in Node the WebGPU globals exist once a Gpu does).
const usage = () => GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST;

const fits = (s: Shared, size: Size) => s.size.every((v, i) => v >= size[i]);
const bytes = (s: Size, texel: number) => s[0] * s[1] * s[2] * texel;

function mapOf(m: WeakMap<Gpu, Map<string, Shared>>, gpu: Gpu): Map<string, Shared> {
  let map = m.get(gpu);
  if (!map) m.set(gpu, (map = new Map()));
  return map;
}

/**
 * The shared texture `key` (format, texel bytes), at least `size` [width, height, layers]: the one
 * there is if it is large enough, else a new one grown to the larger of both in each dimension (the
 * old one is destroyed after the work recorded so far, which may read it, is submitted).
 */
export function sharedTexture(gpu: Gpu, key: string, label: string, format: GPUTextureFormat, texel: number, size: Size): GPUTexture {
  const have = mapOf(real, gpu).get(key);
  if (have && fits(have, size)) return have.t;
  if (gpu.isPlanning) return plannedTexture(gpu, key, label, format, texel, size, have);
  const grown = size.map((v, i) => Math.max(v, have?.size[i] ?? 0)) as Size;
  if (have) gpu.destroyTexture(have.t);
  const t = gpu.texture({ label, size: grown, format, usage: usage() }, texel);
  mapOf(real, gpu).set(key, { t, size: grown });
  return t;
}

/** What sharedTexture would make in a real run, counted in the current plan. */
function plannedTexture(gpu: Gpu, key: string, label: string, format: GPUTextureFormat, texel: number, size: Size, realOne: Shared | undefined): GPUTexture {
  let local = planned.get(gpu);
  if (!local) {
    planned.set(gpu, (local = new Map()));
    gpu.onPlanEnd(() => planned.delete(gpu));
  }
  const old = local.get(key) ?? realOne;
  if (old && fits(old, size)) return old.t;
  const grown = size.map((v, i) => Math.max(v, old?.size[i] ?? 0)) as Size;
  const finalOf = local; // this plan's map: at the act, it holds the key's final size
  gpu.ahead(bytes(grown, texel) - (old ? bytes(old.size, texel) : 0), () => {
    const last = finalOf.get(key)!;
    const t = sharedTexture(gpu, key, label, format, texel, last.size);
    for (const d of standInViewsOf(last.t)) textureBinding(t, d);
  });
  if (old) gpu.pool.planAdjust(-bytes(old.size, texel)); // the real run destroys the one it outgrows
  const t = standInTexture(gpu, { label: `planned ${key}`, size: grown, format, usage: usage() }, texel);
  local.set(key, { t, size: grown });
  return t;
}

/** Textures that stand in for real ones in a plan, and the view dimensions the plan's ops bound them as. */
const standInViews = new WeakMap<GPUTexture, Set<GPUTextureViewDimension>>();

/** A texture a plan counts for one the real run makes: viewed by no real op, destroyed when the plan ends. */
export function standInTexture(gpu: Gpu, desc: GPUTextureDescriptor & { size: Size }, texel: number): GPUTexture {
  const t = gpu.texture(desc, texel);
  standInViews.set(t, new Set());
  gpu.onPlanEnd(() => gpu.destroyTexture(t));
  return t;
}

/** The view dimensions a plan's ops bound a stand-in texture as (for the real one's views, made ahead). */
export const standInViewsOf = (t: GPUTexture): Iterable<GPUTextureViewDimension> => standInViews.get(t) ?? [];

/** What textureBinding gives a plan for a stand-in texture: the plan records no commands, so nothing reads it. */
const PLANNED_VIEW = {} as GPUBufferBinding;

const views = new WeakMap<GPUTexture, Map<GPUTextureViewDimension, GPUTextureView>>();

/**
 * A texture view in Gpu.dispatch's list of bindings (a 2D-array view unless `dimension` says otherwise):
 * WebGPU takes any binding resource there, the list is only typed for buffers (see gpu.ts).
 * One view per texture and dimension, made once: on lavapipe, creating a view waits for the queue to
 * finish the work it is running (a lock they share), which stalled the first decode's recording for
 * up to 2.4 s at a time (docs/benchmarks.md, "Whole process").
 */
export function textureBinding(t: GPUTexture, dimension: GPUTextureViewDimension = '2d-array'): GPUBufferBinding {
  const planned = standInViews.get(t);
  if (planned) {
    planned.add(dimension);
    return PLANNED_VIEW;
  }
  let byDim = views.get(t);
  if (!byDim) views.set(t, (byDim = new Map()));
  let v = byDim.get(dimension);
  if (!v) byDim.set(dimension, (v = t.createView({ dimension })));
  return v as unknown as GPUBufferBinding;
}

/** Frees every shared texture of this Gpu whose key starts with `prefix` (all by default). */
export function releaseSharedTextures(gpu: Gpu, prefix = ''): void {
  const map = real.get(gpu);
  if (!map) return;
  for (const [key, { t }] of map) {
    if (!key.startsWith(prefix)) continue;
    gpu.destroyTexture(t);
    map.delete(key);
  }
}
