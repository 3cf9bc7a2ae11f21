// sdvae convert: a checkpoint in any format openCheckpoint reads -> safetensors with diffusers names
// (src/io/convert.ts). No GPU is needed.

import { parseArgs } from 'node:util';
import { convertCheckpoint } from '../io/convert.js';
import { progress, UsageError } from './common.js';

export const CONVERT_HELP = `sdvae convert IN -o OUT.safetensors [--force] [--strict]
sdvae convert IN -o OUTDIR [--force] [--strict]

Reads IN (a .ckpt/.pt/.pth/.bin PyTorch file, read as data with no code run, OpenAI's decoder.pt, a
single-file LDM safetensors, or a diffusers folder) and writes its tensors with diffusers' names:
  OUT.safetensors   one file, the model config in its metadata (loads with --vae/--consistency FILE)
  OUTDIR            a diffusers folder: config.json + diffusion_pytorch_model.safetensors
F32, F16 and BF16 tensors keep their dtype. An existing output is replaced only with --force.
--strict refuses a pickle that names any global outside torch's tensor and container types (by
default such globals, e.g. pytorch_lightning's ModelCheckpoint, are kept as inert data).`;

export async function runConvert(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      force: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return console.log(CONVERT_HELP), 0;
  if (positionals.length !== 1) throw new UsageError(`convert: expected one input checkpoint, got ${positionals.length}\n\n${CONVERT_HELP}`);
  if (!values.output) throw new UsageError(`convert: -o OUT is required\n\n${CONVERT_HELP}`);
  let last = -1;
  const r = await convertCheckpoint(positionals[0], values.output, {
    force: values.force,
    strict: values.strict,
    onTensor: (i, n) => {
      const pct = Math.floor((100 * (i + 1)) / n / 10) * 10;
      if (pct !== last) progress(`  ${pct}% (${i + 1}/${n} tensors)`);
      last = pct;
    },
  });
  console.log(`wrote ${r.weightsFile}${r.configFile ? ` and ${r.configFile}` : ''}: ${r.tensors} tensors, ${r.bytes} bytes (read as ${r.layout} layout)`);
  return 0;
}
