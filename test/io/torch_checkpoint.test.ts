// PyTorch checkpoints as users hold them give the reference numbers: the tiny VAE as a Lightning
// .ckpt (first_stage_model., loss.*, model_ema.*, an inert callback) and as a legacy A1111 .vae.pt,
// and the tiny consistency decoder UNet as a TorchScript archive laid out like OpenAI's decoder.pt.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consistencyRunner } from '../../src/check/consistency_runner.js';
import { runModelCases } from '../../src/check/model_case.js';
import { vaeRunner } from '../../src/check/vae_runner.js';
import { nchwToNhwc, nhwcToNchw } from '../../src/gpu/tensor.js';
import { SafetensorsFile, readSafetensors } from '../../src/io/safetensors.js';
import { openCheckpoint } from '../../src/io/weights.js';
import { AutoencoderKL } from '../../src/models/autoencoder_kl.js';
import { ConsistencyDecoder } from '../../src/models/consistency_decoder.js';
import { decodeParam } from '../../src/models/params.js';
import { FIXTURES, useGpu } from '../helpers.js';
import { TOL } from '../tolerances.js';

const gpu = useGpu();
const CKPTS = join(import.meta.dirname, '..', 'fixtures', 'checkpoints');
const VAE_DIR = join(FIXTURES, 'models/tiny-vae');
const CD_DIR = join(FIXTURES, 'models/tiny-consistency');

/** Every tensor of `path` equals, value for value, the same-named tensor of the diffusers folder. */
async function expectSameTensors(path: string, dir: string, only: (n: string) => boolean = () => true) {
  const ours = openCheckpoint(path);
  const ref = SafetensorsFile.open(join(dir, 'diffusion_pytorch_model.safetensors'));
  try {
    const refNames = ref.names().filter(only);
    expect([...ours.names].sort()).toEqual([...refNames].sort());
    for (const n of refNames) {
      const e = ours.source(n)!;
      const want = ref.readF32(n);
      expect(e.shape.reduce((a, b) => a * b, 1), n).toBe(want.length);
      const got = decodeParam(e.dtype, await e.bytes());
      // Byte-equal (a plain toEqual on large typed arrays is slow); the first difference is named.
      const at = got.findIndex((v, i) => !Object.is(v, want[i]));
      expect(at, `${n}: first differing element`).toBe(-1);
    }
  } finally {
    ours.close();
    ref.close();
  }
}

describe.each(['tiny-vae.ckpt', 'tiny-vae.legacy.vae.pt'])('%s', (file) => {
  it('maps to exactly the diffusers tensors of models/tiny-vae, value for value', async () => {
    await expectSameTensors(join(CKPTS, file), VAE_DIR);
  });
  it('passes every case of the tiny-vae io file', async () => {
    const vae = await AutoencoderKL.load(gpu(), join(CKPTS, file));
    const io = readSafetensors(join(VAE_DIR, 'io.safetensors'));
    const checks = await runModelCases(vaeRunner(vae), 'io', io.metadata, io.tensors);
    vae.release();
    expect(checks.filter((c) => !c.pass)).toEqual([]);
    expect(new Set(checks.map((c) => c.case))).toEqual(new Set(['encode', 'encode_ns', 'decode', 'decode_ns']));
  });
});

describe('tiny-consistency-decoder.pt (OpenAI decoder.pt layout)', () => {
  const file = join(CKPTS, 'tiny-consistency-decoder.pt');

  it('maps every blocks.* tensor to the decoder_unet.* tensor of models/tiny-consistency, value for value', async () => {
    await expectSameTensors(file, CD_DIR, (n) => n.startsWith('decoder_unet.'));
    const c = openCheckpoint(file);
    c.close();
    expect(c.layout).toBe('openai-decoder');
    expect(c.config).toMatchObject({ _class_name: 'ConsistencyDecoderVAE', decoder_block_out_channels: [32, 64], decoder_layers_per_block: 1 });
  });

  it('passes every consistency case of the io file; encode cases run with a paired encoder', async () => {
    const model = await ConsistencyDecoder.load(gpu(), file);
    const io = readSafetensors(join(CD_DIR, 'io.safetensors'));
    expect(model.encoder).toBeUndefined();
    expect(() => model.encode(gpu().upload(new Float32Array(3 * 64), [1, 8, 8, 3]))).toThrow(/no encoder.*decoder\.pt.*--vae/);
    const alone = await runModelCases(consistencyRunner(model), 'io', io.metadata, io.tensors);
    const decodeChecks = alone.filter((c) => c.case !== 'encode');
    expect(decodeChecks.filter((c) => !c.pass)).toEqual([]);
    expect(new Set(decodeChecks.map((c) => c.case))).toEqual(new Set(['consistency', 'consistency_openai', 'consistency_1step', 'consistency_openai_1step', 'consistency_ns', 'consistency_ns_1step']));
    expect(alone.filter((c) => c.case === 'encode').map((c) => c.error)).toEqual(['this model cannot run "encode" cases (it runs: consistency_decode)']);
    const encoder = await ConsistencyDecoder.load(gpu(), CD_DIR);
    const paired = await runModelCases(consistencyRunner(model, encoder), 'io', io.metadata, io.tensors);
    expect(paired.filter((c) => !c.pass)).toEqual([]);
    encoder.release();
    model.release();
  });

  it("runs OpenAI's sampler (clamp every step) by default for that file", async () => {
    const model = await ConsistencyDecoder.load(gpu(), file);
    const io = readSafetensors(join(CD_DIR, 'io.safetensors')).tensors;
    expect(model.config.default_clamp).toBe(true);
    const lat = io.get('latent')!;
    const z = gpu().upload(nchwToNhwc(lat.data as Float32Array, lat.shape), [1, 4, 4, 4]);
    const noise = [io.get('noise_0')!.data as Float32Array, io.get('noise_1')!.data as Float32Array];
    const y = model.decode(z, { timesteps: [1008, 512], noise });
    const got = nhwcToNchw(await y.read(), y.shape);
    const want = io.get('openai_decoded')!.data as Float32Array;
    const diffusers = io.get('decoded')!.data as Float32Array;
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    expect(maxDiff(got, want)).toBeLessThanOrEqual(TOL.consistency);
    expect(maxDiff(got, diffusers)).toBeGreaterThan(0.01); // the clamp matters here: it is not diffusers' loop
    for (const t of [z, y]) t.release();
    model.release();
  });
});
