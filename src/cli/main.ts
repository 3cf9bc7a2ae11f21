#!/usr/bin/env node
// sdvae: the command line. One file per command; arguments parsed with node:util parseArgs.
// Progress goes to stderr, results to stdout.

import { runCheck } from './check.js';
import { runCompare } from './compare.js';
import { runConvert } from './convert.js';
import { UsageError } from './common.js';
import { runDecode } from './decode.js';
import { runEncode } from './encode.js';
import { runInspect } from './inspect.js';
import { runMetrics } from './metrics.js';
import { runTune } from './tune.js';
import { runServe } from './serve.js';
import { runWeights } from './weights.js';

const USAGE = `sdvae <command> [options]

Commands:
  compare IMAGE.png... --vae DIR --consistency DIR -o OUTDIR
                                 encode, store, decode with both decoders; side-by-side figure, PSNR/SSIM, sizes
  compare ORIGINAL.png --decoded A.png,B.png -o OUTDIR
                                 the same figure and numbers for images decoded elsewhere
  encode IMAGE.png (--vae DIR | --consistency DIR) -o OUT.latent.safetensors
                                 encode a PNG into a stored SD latent (fp32, fp16 or 8-bit)
  decode LATENT (--vae DIR | --consistency DIR) -o OUT.png
                                 decode a stored latent with the SD VAE decoder or the consistency decoder
  decode LATENT --taesd DIR -o OUT.png [--consistency DIR --preview]
                                 TAESD, the fast decoder; with --preview it writes OUT.preview.png first
  encode DIR_OR_GLOB... --vae DIR -o LATENTS_DIR [--batch N] [--report]
  decode LATENTS_DIR (--vae | --consistency | --taesd) DIR -o OUT_DIR [--batch N] [--report]
                                 folders: batched, resumable, with OUT/index.json and a summary
  convert CHECKPOINT -o OUT.safetensors|OUTDIR
                                 a .ckpt/.pt/.bin (read as data, no code run) or decoder.pt -> safetensors, diffusers names
  weights list | fetch NAME | verify NAME [--dir weights] [--fp16]
                                 download the real checkpoints (resumable, size and sha256 verified)
  inspect --model DIR [--input IMAGE.png] [--json] [--print-wgsl]
                                 per-module table: path, shape, params, FLOPs, GPU time, activation stats
  metrics ORIGINAL.png DECODED.png [--json]
                                 PSNR and SSIM (RGB and luma) of a decoded image
  tune (--model DIR | --manifest FILE.json) [--size N] [--full]
                                 time the conv variants for the model's shapes on this adapter; fills the tuning cache
  serve [--models DIR] [--port N] the browser page and a weights folder on 127.0.0.1 (docs/browser.md)
  check CASE.safetensors...      run kernel case files (the reference format) and compare with their expected outputs
        [--max-binding-bytes N]  plan with a storage-binding limit of N bytes (forces banding)
        [--json]                 one JSON object on stdout instead of the table

Run 'sdvae <command> --help' for a command's options.`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  check: runCheck,
  compare: runCompare,
  convert: runConvert,
  encode: runEncode,
  decode: runDecode,
  metrics: runMetrics,
  inspect: runInspect,
  tune: runTune,
  serve: runServe,
  weights: (argv) => runWeights(argv),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  const run = commands[cmd];
  if (!run) {
    console.error(`sdvae: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    console.error(`sdvae: ${err.message}`);
    // Bad arguments (parseArgs' own errors included) exit 2, failures 1.
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.exitCode = usage ? 2 : 1;
  },
);
