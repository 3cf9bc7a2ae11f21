#!/usr/bin/env node
// sdvae: the command line. One file per command; arguments parsed with node:util parseArgs.
// Progress goes to stderr, results to stdout.

import { runCheck } from './check.js';

const USAGE = `sdvae <command> [options]

Commands:
  check CASE.safetensors...      run kernel case files (the reference format) and compare with their expected outputs
        [--max-binding-bytes N]  plan with a storage-binding limit of N bytes (forces banding)
        [--json]                 one JSON object on stdout instead of the table

Run 'sdvae <command> --help' for a command's options.`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  check: runCheck,
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
    process.exitCode = 1;
  },
);
