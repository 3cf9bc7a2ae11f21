// Which ONNX Runtime bench:ort runs: onnxruntime-web (a dependency; its WASM backend is a browser's CPU
// path) or onnxruntime-node (the native CPU peer). onnxruntime-node is not a dependency: its install
// script fetches GPU binaries from outside the npm registry, which CI cannot reach. Its package itself
// carries the CPU library, so `npm install --no-save --ignore-scripts onnxruntime-node@1.30.0` is enough.

import * as ort from 'onnxruntime-web';
import type { OrtBackend } from './ort_args.js';

export const NATIVE_INSTALL = 'npm install --no-save --ignore-scripts onnxruntime-node@1.30.0';

/** The runtime's module (both have onnxruntime-common's API: InferenceSession, Tensor), name and version.
 *  `pkg` names the native package (a test passes one that is not installed). */
export async function ortRuntime(backend: OrtBackend, pkg = 'onnxruntime-node'): Promise<{ rt: typeof ort; name: string; version: string }> {
  if (backend === 'wasm') return { rt: ort, name: 'onnxruntime-web', version: ort.env.versions.web ?? '?' };
  let rt: typeof ort;
  try {
    rt = (await import(pkg)) as typeof ort; // a variable name, so that type checking does not need it
  } catch (e) {
    throw new Error(`bench:ort --ort-backend native needs ${pkg}, which is not a dependency: ${NATIVE_INSTALL} (${(e as Error).message.split('\n')[0]})`);
  }
  return { rt, name: pkg, version: rt.env.versions.node ?? '?' };
}
