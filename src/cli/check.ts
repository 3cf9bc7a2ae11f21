// sdvae check: runs reference case files. A kernel case file (metadata `op`) runs one op; results are
// one line per case: name, max abs error, tolerance, PASS/FAIL. Exit status 1 on any failure.

import { parseArgs } from 'node:util';
import { runKernelCase, type KernelCaseResult } from '../check/kernel_case.js';
import { Gpu } from '../gpu/gpu.js';
import { readSafetensors } from '../io/safetensors.js';

export const CHECK_HELP = `sdvae check CASE.safetensors... [--max-binding-bytes N] [--json]

Runs each kernel case file: reads its op and params from the metadata, runs our kernels on its inputs,
and compares with its 'expected' tensor at the file's 'atol'. Exits 1 if any case fails or names an
unknown op.`;

export function parseByteCount(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 256) throw new Error(`--${name}: expected an integer number of bytes >= 256, got "${v}"`);
  return n;
}

export async function runCheck(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'max-binding-bytes': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(CHECK_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new Error(`check: no case files given\n\n${CHECK_HELP}`);
  const maxBindingBytes = parseByteCount('max-binding-bytes', values['max-binding-bytes']);
  const gpu = await Gpu.create({ maxBindingBytes });
  const results: KernelCaseResult[] = [];
  try {
    for (const path of positionals) {
      let r: KernelCaseResult;
      try {
        const { metadata, tensors } = readSafetensors(path);
        r = await runKernelCase(gpu, { path, metadata, tensors });
      } catch (e) {
        r = { name: path, op: '', maxAbsErr: NaN, atol: NaN, pass: false, error: (e as Error).message };
      }
      results.push(r);
      if (!values.json) console.log(formatResult(r));
    }
  } finally {
    gpu.destroy();
  }
  const failed = results.filter((r) => !r.pass).length;
  if (values.json) console.log(JSON.stringify({ adapter: gpu.adapterName, maxBindingBytes: gpu.maxBindingBytes, passed: results.length - failed, failed, results }, null, 2));
  else console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

function formatResult(r: KernelCaseResult): string {
  const status = r.pass ? 'PASS' : 'FAIL';
  if (r.error) return `${status}  ${r.name}  ${r.op || '?'}  error: ${r.error}`;
  return `${status}  ${r.name.padEnd(52)} ${r.op.padEnd(28)} max_abs_err ${r.maxAbsErr.toExponential(2)}  atol ${r.atol.toExponential(1)}`;
}
