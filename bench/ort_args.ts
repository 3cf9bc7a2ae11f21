// The arguments of npm run bench:ort (bench/ort.ts), checked before anything is loaded: a bad value is an
// error naming the flag and what it must be.

import type { WeightStorage } from '../src/kernels/weight_format.js';

export interface OrtBenchArgs {
  /** Output image side; the latent is size/8 (the SD VAE's factor). */
  size: number;
  runs: number;
  ortThreads: number;
  storage: WeightStorage;
  /** Which ONNX Runtime: 'wasm' (onnxruntime-web's WASM backend, a browser's CPU path) or 'native'
   *  (onnxruntime-node's CPU execution provider, the native peer; installed on demand, not a dependency). */
  backend: OrtBackend;
}

export type OrtBackend = 'wasm' | 'native';

const FLAGS = ['size', 'runs', 'ort-threads', 'weights', 'ort-backend'];
const BACKENDS: OrtBackend[] = ['wasm', 'native'];
const STORAGES: WeightStorage[] = ['as-stored', 'f16', 'f32'];

export function parseOrtBenchArgs(argv: readonly string[], cpuCount: number): OrtBenchArgs {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !FLAGS.includes(flag)) throw new Error(`bench:ort: unknown argument ${argv[i]} (flags: ${FLAGS.map((f) => `--${f}`).join(', ')})`);
    if (argv[i + 1] === undefined) throw new Error(`bench:ort: --${flag} needs a value`);
    given.set(flag, argv[i + 1]);
  }
  const positive = (flag: string, fallback: number, what: string, ok: (n: number) => boolean = () => true) => {
    const raw = given.get(flag);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0 || !ok(n)) throw new Error(`bench:ort: --${flag} ${raw}: must be ${what}`);
    return n;
  };
  const storage = (given.get('weights') ?? 'as-stored') as WeightStorage;
  if (!STORAGES.includes(storage)) throw new Error(`bench:ort: --weights ${storage}: must be ${STORAGES.join(', ')}`);
  const backend = (given.get('ort-backend') ?? 'wasm') as OrtBackend;
  if (!BACKENDS.includes(backend)) throw new Error(`bench:ort: --ort-backend ${backend}: must be ${BACKENDS.join(' or ')}`);
  return {
    size: positive('size', 256, 'a positive multiple of 8 (the image side)', (n) => n % 8 === 0),
    runs: positive('runs', 3, 'a positive integer'),
    ortThreads: positive('ort-threads', cpuCount, 'a positive integer'),
    storage,
    backend,
  };
}
