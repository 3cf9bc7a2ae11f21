// sdvae serve: the page (dist/web, from npm run build:web) and a local weights folder on 127.0.0.1, so
// `npx sdvae serve` and opening the printed URL is the whole setup. Weights are served with Range
// support, so the page reads checkpoints tensor by tensor. /models/index.json lists the model folders
// (each with a config.json and a .safetensors file) for the page's model menu.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseIntArg, UsageError } from './common.js';
import { startStaticServer, type StaticServer, type StaticServerOptions } from './static_server.js';

export const SERVE_HELP = `sdvae serve [--models DIR] [--port N] [--no-range]

Serves the browser page and a weights folder on http://127.0.0.1:PORT/ (Node's http, Range requests).
  --models DIR   the folder of model folders (default: weights), served under /models/
  --port N       the port (default 8321; 0 picks a free one)
  --no-range     ignore Range requests (answer with whole files), to try the page's fallback`;

export interface ServedModel {
  name: string;
  /** Folder URL, ending in '/'. */
  url: string;
  /** config.json's _class_name: AutoencoderKL or ConsistencyDecoderVAE. */
  className: string;
  weightsFile: string;
  bytes: number;
}

/** The model folders in `dir`: those with a config.json and a .safetensors file (fp32 preferred). */
export function listModels(dir: string): ServedModel[] {
  if (!existsSync(dir)) return [];
  const out: ServedModel[] = [];
  for (const name of readdirSync(dir).sort()) {
    const folder = join(dir, name);
    if (!statSync(folder).isDirectory() || !existsSync(join(folder, 'config.json'))) continue;
    let className = 'unknown';
    try {
      className = String(JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'))._class_name ?? 'unknown');
    } catch {
      className = 'invalid config.json';
    }
    const files = readdirSync(folder).filter((f) => f.endsWith('.safetensors')).sort((a, b) => Number(a.includes('fp16')) - Number(b.includes('fp16')));
    const weightsFile = files.find((f) => f.startsWith('diffusion_pytorch_model')) ?? files[0];
    if (!weightsFile) continue;
    out.push({ name, url: `/models/${encodeURIComponent(name)}/`, className, weightsFile, bytes: statSync(join(folder, weightsFile)).size });
  }
  return out;
}

/** The built page: dist/web beside this file's dist/src/cli (or the source tree's dist/web under tsx/vitest). */
export function webDir(): string {
  for (const d of [join(import.meta.dirname, '..', '..', 'web'), join(import.meta.dirname, '..', '..', 'dist', 'web')])
    if (existsSync(join(d, 'index.html')) && existsSync(join(d, 'sdvae.js'))) return d;
  throw new Error('the browser build is missing (no dist/web/index.html): run npm run build:web');
}

export async function startServe(opts: { models: string; port: number; ranges: boolean; web?: string; onRequest?: StaticServerOptions['onRequest'] }): Promise<StaticServer> {
  return startStaticServer({
    port: opts.port,
    onRequest: opts.onRequest,
    ranges: opts.ranges,
    mounts: [
      { prefix: '/', dir: opts.web ?? webDir() },
      { prefix: '/models/', dir: opts.models },
    ],
    json: { '/models/index.json': () => ({ models: listModels(opts.models) }) },
  });
}

export async function runServe(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      models: { type: 'string', default: 'weights' },
      port: { type: 'string' },
      'no-range': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(SERVE_HELP), 0;
  if (positionals.length) throw new UsageError(`serve: unexpected argument "${positionals[0]}"\n\n${SERVE_HELP}`);
  if (!existsSync(values.models)) throw new UsageError(`serve: --models ${values.models}: no such folder`);
  const port = parseIntArg('port', values.port, 0, 65535) ?? 8321;
  const server = await startServe({ models: values.models, port, ranges: !values['no-range'] });
  const models = listModels(values.models);
  console.log(`serving the page on ${server.url}/ and ${models.length} model folder(s) from ${values.models} under /models/${values['no-range'] ? ' (Range requests ignored)' : ''}`);
  for (const m of models) console.log(`  ${m.url}  ${m.className}  ${m.weightsFile} (${(m.bytes / 2 ** 20).toFixed(1)} MiB)`);
  console.log('Ctrl-C stops it.');
  await new Promise<void>((ok) => {
    process.once('SIGINT', () => ok());
    process.once('SIGTERM', () => ok());
  });
  await server.close();
  return 0;
}
