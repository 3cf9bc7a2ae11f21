// Weights kept in their checkpoint's precision (kernels/weight_format.ts). The tiny models' weights are
// rounded to F16 (and truncated to BF16) here, and a model that keeps them 16-bit on the GPU must give
// exactly, bit for bit, what the same model gives with the upcast values stored as f32: widening is
// exact and every kernel computes in f32. Also: an asynchronous source (as over HTTP) loads the same
// bits, and `storage: 'f16'` of an F32 checkpoint equals an F16 checkpoint of the same rounding.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runModelCases, type CaseRunner, type CaseRunResult } from '../../src/check/model_case.js';
import { consistencyRunner } from '../../src/check/consistency_runner.js';
import { vaeRunner } from '../../src/check/vae_runner.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/io/dtype.js';
import { openCheckpoint } from '../../src/io/weights.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { decodeParam, type LoadOptions, type ModelSource, type ParamDType, type ParamEntry } from '../../src/models/params.js';
import { FIXTURES, useGpu } from '../helpers.js';

const gpu = useGpu();

type Rounding = 'F16' | 'BF16';
const toBits = (r: Rounding, v: Float32Array) => (r === 'F16' ? f32ToF16(v) : f32ToBf16(v));
const fromBits = (r: Rounding, b: Uint16Array) => (r === 'F16' ? f16ToF32(b) : bf16ToF32(b));
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * The checkpoint at `dir` with every conv and linear weight (2+ dims; not the time-embedding table,
 * which `storage: 'f16'` keeps f32) rounded to `r`: `as` 'bits' serves them as 16-bit tensors,
 * 'upcast' as the F32 values those bits stand for.
 */
/** For asynchronous sources: how many reads are in flight at once (the loader must keep it at 1). */
const flight = { now: 0, max: 0 };
const later = (bytes: Uint8Array) => {
  flight.max = Math.max(flight.max, ++flight.now);
  return new Promise<Uint8Array>((resolve) => setTimeout(() => (flight.now--, resolve(bytes)), 0));
};

function roundedSource(dir: string, r: Rounding | null, as: 'bits' | 'upcast', async = false): ModelSource {
  const ckpt = openCheckpoint(dir);
  const entries = new Map<string, ParamEntry>();
  for (const name of ckpt.names) {
    const e = ckpt.source(name)!;
    const values = decodeParam(e.dtype, e.bytes() as Uint8Array);
    let dtype: ParamDType = 'F32';
    let bytes = bytesOf(values.slice());
    if (r && e.shape.length >= 2 && !name.includes('time_proj')) {
      const bits = toBits(r, values);
      [dtype, bytes] = as === 'bits' ? [r, bytesOf(bits)] : ['F32', bytesOf(fromBits(r, bits))];
    }
    entries.set(name, { shape: e.shape, dtype, bytes: () => (async ? later(bytes.slice()) : bytes.slice()) });
  }
  ckpt.close();
  return { what: `${dir} (${r ?? 'f32'} ${as})`, config: ckpt.config, configFile: ckpt.configFile, names: ckpt.names, source: (n) => entries.get(n) };
}

/** Every output and tap of every io case, in order. */
async function runAll(runner: CaseRunner, ioFile: string): Promise<Float32Array[]> {
  const io = readSafetensors(ioFile);
  const outs: Float32Array[] = [];
  const wrapped: CaseRunner = {
    runs: runner.runs,
    run: async (c, i, t): Promise<CaseRunResult> => {
      const res = await runner.run(c, i, t);
      outs.push(...res.outputs.values(), ...res.taps.values());
      return res;
    },
  };
  const checks = await runModelCases(wrapped, ioFile, io.metadata, io.tensors);
  expect(checks.filter((c) => c.error)).toEqual([]);
  return outs;
}

const models = [
  { name: 'tiny-vae', dir: join(FIXTURES, 'models/tiny-vae'), load: (src: ModelSource, o?: LoadOptions) => AutoencoderKL.fromSource(gpu(), src, o), runner: vaeRunner },
  { name: 'tiny-consistency', dir: join(FIXTURES, 'models/tiny-consistency'), load: (src: ModelSource, o?: LoadOptions) => ConsistencyDecoder.fromSource(gpu(), src, o), runner: consistencyRunner },
] as const;

async function outputsOf(m: (typeof models)[number], src: ModelSource, opts?: LoadOptions): Promise<Float32Array[]> {
  const model = await m.load(src, opts);
  try {
    // Each runner takes its own model class; the pairs above match.
    return await runAll((m.runner as (x: typeof model) => CaseRunner)(model), join(m.dir, 'io.safetensors'));
  } finally {
    model.release();
  }
}

function expectBitEqual(a: Float32Array[], b: Float32Array[]) {
  expect(a.length).toBe(b.length);
  expect(a.length).toBeGreaterThan(0);
  a.forEach((x, i) => expect(new Uint32Array(x.buffer, x.byteOffset, x.length)).toEqual(new Uint32Array(b[i].buffer, b[i].byteOffset, b[i].length)));
}

describe.each(models)('$name: 16-bit weights on the GPU', (m) => {
  it.each(['F16', 'BF16'] as const)('%s kept 16-bit equals the f32 run of the upcast weights, bit for bit', async (r) => {
    const stored = await outputsOf(m, roundedSource(m.dir, r, 'bits'));
    const upcast = await outputsOf(m, roundedSource(m.dir, r, 'upcast'));
    expectBitEqual(stored, upcast);
    // And the rounding did reach the GPU: the f32 checkpoint gives other numbers.
    const original = await outputsOf(m, roundedSource(m.dir, null, 'upcast'));
    expect(original.some((o, i) => o.some((v, j) => v !== stored[i][j]))).toBe(true);
  });

  it("storage: 'f16' of the F32 checkpoint equals the F16 checkpoint; 'f32' of the F16 one equals its upcast", async () => {
    const f16 = await outputsOf(m, roundedSource(m.dir, 'F16', 'bits'));
    expectBitEqual(await outputsOf(m, roundedSource(m.dir, null, 'upcast'), { storage: 'f16' }), f16);
    expectBitEqual(await outputsOf(m, roundedSource(m.dir, 'F16', 'bits'), { storage: 'f32' }), await outputsOf(m, roundedSource(m.dir, 'F16', 'upcast')));
  });

  it('an asynchronous source (tensors arriving as Promises, one in flight at a time) loads the same weights', async () => {
    let progress = 0;
    flight.max = 0;
    const async = await outputsOf(m, roundedSource(m.dir, 'F16', 'bits', true), { onProgress: (b) => (progress = b) });
    expectBitEqual(async, await outputsOf(m, roundedSource(m.dir, 'F16', 'bits')));
    expect(progress).toBeGreaterThan(0);
    expect(flight.max).toBe(1);
  });
});
