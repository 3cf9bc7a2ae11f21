// Node only: WebGPU through Dawn's Node bindings (npm `webgpu`). Kept apart from the core so that the
// rest of the library runs unchanged in a browser with its own navigator.gpu.

import { mkdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

let gpuFactory: GPU | null = null;

/**
 * Threads lavapipe (Mesa's CPU Vulkan driver) runs compute on, unless LP_NUM_THREADS is set: 4 per CPU
 * (at most 32). Its default, one per CPU, left this project's decodes ~28% slower on a 2-CPU machine:
 * the same work took less CPU time with more threads (docs/benchmarks.md, "lavapipe's threads").
 * Other drivers ignore the variable. It must be set before Dawn's instance loads the driver.
 */
export function lavapipeThreads(cpus = availableParallelism()): number {
  return Math.min(32, 4 * cpus);
}

export async function requestAdapter(): Promise<GPUAdapter> {
  // Mesa prints errors at every start when XDG_RUNTIME_DIR is unset or not writable.
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `sdvae-xdg-${process.getuid?.() ?? 0}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  } else {
    mkdirSync(process.env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  }
  if (!gpuFactory) {
    process.env.LP_NUM_THREADS ??= String(lavapipeThreads());
    const webgpu = await import('webgpu');
    Object.assign(globalThis, webgpu.globals);
    gpuFactory = webgpu.create([]) as GPU;
  }
  const adapter = await gpuFactory.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter)
    throw new Error(
      'No WebGPU adapter found. Dawn needs a Vulkan driver: on a machine without a GPU, install Mesa\'s ' +
        'lavapipe (Debian 12: mesa-vulkan-drivers >= 24 from bookworm-backports; run scripts/setup-lavapipe.sh).',
    );
  return adapter;
}
