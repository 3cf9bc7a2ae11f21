// Small helpers shared by the kernels: packing the params uniform and one WGSL snippet.

/** Packs params for the uniform binding. Integers are u32 (or i32 bit patterns), floats are f32. */
export function packParams(values: readonly (number | { f32: number })[]): Uint32Array {
  const out = new Uint32Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  values.forEach((v, i) => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new Error(`packParams: ${v} is not an integer (wrap floats as {f32: x})`);
      out[i] = v >>> 0;
    } else {
      f[0] = v.f32;
      out[i] = u[0];
    }
  });
  return out;
}

/**
 * The linear workgroup index of a grid folded by Gpu.dispatch into 2D (more than 65,535 workgroups
 * in one dimension is not allowed). Kernels call `linear_workgroup(wid, nwg)` and return when the
 * index is past their work.
 */
export const LINEAR_WORKGROUP = /* wgsl */ `
fn linear_workgroup(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }
`;
