// CPU references of the activations AutoencoderTiny (TAESD) needs, written as PyTorch computes them
// (float64 arithmetic, rounded to float32 once): ReLU, ReLU(a + b), tanh(x / 3) * 3, x·s + t.
// The GPU versions are in elementwise.ts.

export function reluRef(x: Float32Array): Float32Array {
  return x.map((v) => (v > 0 ? v : 0));
}

export function addReluRef(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => Math.max(0, Math.fround(v + b[i])));
}

export function tanhClampRef(x: Float32Array, magnitude = 3): Float32Array {
  return x.map((v) => Math.tanh(v / magnitude) * magnitude);
}

export function affineRef(x: Float32Array, s: number, t: number): Float32Array {
  return x.map((v) => v * s + t);
}
