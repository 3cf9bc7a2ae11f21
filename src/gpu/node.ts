// Node only: WebGPU through Dawn's Node bindings (npm `webgpu`). Kept apart from the core so that the
// rest of the library runs unchanged in a browser with its own navigator.gpu.

import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let gpuFactory: GPU | null = null;

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
