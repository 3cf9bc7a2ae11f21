// npm run bench:ort's arguments (bench/ort_args.ts): defaults, and each bad value named with what it must be.
import { describe, expect, it } from 'vitest';
import { parseOrtBenchArgs } from '../../bench/ort_args.js';
import { NATIVE_INSTALL, ortRuntime } from '../../bench/ort_runtime.js';

describe('bench:ort arguments', () => {
  it('defaults: 256x256 (a 32x32 latent), 3 runs, one ORT thread per CPU, weights as stored, the WASM backend', () => {
    expect(parseOrtBenchArgs([], 2)).toEqual({ size: 256, runs: 3, ortThreads: 2, storage: 'as-stored', backend: 'wasm' });
    expect(parseOrtBenchArgs(['--size', '128', '--runs', '5', '--ort-threads', '1', '--weights', 'f16', '--ort-backend', 'native'], 2)).toEqual({ size: 128, runs: 5, ortThreads: 1, storage: 'f16', backend: 'native' });
  });

  it('refuses bad values, naming the flag and what it must be', () => {
    expect(() => parseOrtBenchArgs(['--size', '100'], 2)).toThrow('bench:ort: --size 100: must be a positive multiple of 8 (the image side)');
    expect(() => parseOrtBenchArgs(['--size', '-8'], 2)).toThrow('--size -8: must be a positive multiple of 8');
    expect(() => parseOrtBenchArgs(['--runs', '0'], 2)).toThrow('bench:ort: --runs 0: must be a positive integer');
    expect(() => parseOrtBenchArgs(['--ort-threads', '1.5'], 2)).toThrow('bench:ort: --ort-threads 1.5: must be a positive integer');
    expect(() => parseOrtBenchArgs(['--weights', 'int8'], 2)).toThrow('bench:ort: --weights int8: must be as-stored, f16, f32');
    expect(() => parseOrtBenchArgs(['--ort-backend', 'webgpu'], 2)).toThrow('bench:ort: --ort-backend webgpu: must be wasm or native');
    expect(() => parseOrtBenchArgs(['--runs'], 2)).toThrow('bench:ort: --runs needs a value');
    expect(() => parseOrtBenchArgs(['--latent', '4'], 2)).toThrow('bench:ort: unknown argument --latent (flags: --size, --runs, --ort-threads, --weights, --ort-backend)');
  });
});

describe('bench:ort runtimes', () => {
  it('the WASM backend is onnxruntime-web, a dependency', async () => {
    const { name, rt } = await ortRuntime('wasm');
    expect(name).toBe('onnxruntime-web');
    expect(typeof rt.InferenceSession.create).toBe('function');
  });

  it('a missing native package is an error that says how to install it', async () => {
    await expect(ortRuntime('native', 'onnxruntime-node-not-installed')).rejects.toThrow(
      `bench:ort --ort-backend native needs onnxruntime-node-not-installed, which is not a dependency: ${NATIVE_INSTALL}`,
    );
  });
});
