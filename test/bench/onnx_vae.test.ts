// The ONNX graph bench/ort.ts times is the same model: bench/onnx builds the tiny reference SD VAE's
// decoder (test/fixtures/reference/models/tiny-vae) as an ONNX file, ONNX Runtime Web's WASM backend
// accepts it, and on the io file's decode cases it gives diffusers' numbers within the f32 tolerance.
// No GPU: this checks the protobuf writer and the graph, not this project's kernels.
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { autoencoderKLDecoderOnnx } from '../../bench/onnx/vae_decoder.js';
import { checkpointWeights, tableWeights } from '../../bench/onnx/weights.js';
import { maxAbsDiff } from '../../src/check/compare.js';
import { parseCases } from '../../src/check/model_case.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { openCheckpoint } from '../../src/io/weights.js';
import { parseAutoencoderKLConfig } from '../../src/models/autoencoder_kl.js';
import { FIXTURES } from '../helpers.js';
import { TOL } from '../tolerances.js';

const DIR = join(FIXTURES, 'models/tiny-vae');

/** The tiny VAE's decoder as ONNX, one weight optionally replaced. */
function tinyDecoderOnnx(patch?: { name: string; values: (v: Float32Array) => Float32Array }): Uint8Array {
  const ckpt = openCheckpoint(DIR);
  try {
    const read = checkpointWeights(ckpt);
    const weights = (name: string, shape: readonly number[]) => (patch?.name === name ? patch.values(read(name, shape)) : read(name, shape));
    return autoencoderKLDecoderOnnx(parseAutoencoderKLConfig(ckpt.config, ckpt.configFile), weights);
  } finally {
    ckpt.close();
  }
}

/** Runs every decode case of the io file in ORT WASM: [case, max |ORT - diffusers|]. */
async function decodeErrors(model: Uint8Array): Promise<[string, number][]> {
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const io = readSafetensors(join(DIR, 'io.safetensors'));
  const errors: [string, number][] = [];
  try {
    for (const c of parseCases(io.metadata, 'io.safetensors').filter((c) => c.run === 'decode')) {
      const z = io.tensors.get(c.inputs.latent)!;
      const ref = io.tensors.get(c.expect.image.tensor)!;
      const out = (await session.run({ latent: new ort.Tensor('float32', z.data as Float32Array, z.shape) })).image;
      expect(out.dims).toEqual(ref.shape);
      errors.push([c.name, maxAbsDiff(out.data as Float32Array, ref.data as Float32Array)]);
    }
  } finally {
    await session.release();
  }
  return errors;
}

describe('bench/onnx: the SD VAE decoder as an ONNX graph', () => {
  it('ORT WASM accepts the file and decodes both io cases to diffusers numbers (TOL.vaeOutput)', async () => {
    const errors = await decodeErrors(tinyDecoderOnnx());
    expect(errors.map(([name]) => name)).toEqual(['decode', 'decode_ns']);
    for (const [, err] of errors) expect(err).toBeLessThanOrEqual(TOL.vaeOutput);
  });

  it('a changed weight moves the output past the tolerance (the comparison can fail)', async () => {
    const errors = await decodeErrors(tinyDecoderOnnx({ name: 'decoder.up_blocks.1.resnets.0.conv2.weight', values: (v) => v.map((x, i) => (i < 64 ? 1 : x)) }));
    for (const [, err] of errors) expect(err).toBeGreaterThan(TOL.vaeOutput);
  });

  it('a missing or wrong-shape weight is an error naming the tensor', () => {
    const cfg = parseAutoencoderKLConfig({ block_out_channels: [32, 64], layers_per_block: 1 }, 'cfg');
    const table = new Map([['post_quant_conv.weight', { shape: [4, 4, 1, 1], values: new Float32Array(16) }]]);
    expect(() => autoencoderKLDecoderOnnx(cfg, tableWeights(table, 'captured'))).toThrow('captured: no tensor post_quant_conv.bias (the ONNX graph needs it, shape [4])');
    table.set('post_quant_conv.weight', { shape: [4, 4], values: new Float32Array(16) });
    expect(() => autoencoderKLDecoderOnnx(cfg, tableWeights(table, 'captured'))).toThrow('captured: tensor post_quant_conv.weight is [4,4], the ONNX graph expects [4,4,1,1]');
  });
});
