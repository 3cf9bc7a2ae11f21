// sdvae check: runs reference case files. A kernel case file (metadata `op`) runs one op; results are
// one line per case: name, max abs error, tolerance, PASS/FAIL. Exit status 1 on any failure.

import { GPU_OPTIONS, gpuOptions, loadOptions } from './common.js';
import type { ModelOptions } from '../pipeline.js';
import { parseArgs } from 'node:util';
import { runKernelCase, type KernelCaseResult } from '../check/kernel_case.js';
import { Gpu } from '../gpu/gpu.js';
import { readSafetensors } from '../io/safetensors.js';
import { firstDivergence, runModelCases, type TensorCheck } from '../check/model_case.js';
import { loadRunner } from './models.js';

export const CHECK_HELP = `sdvae check CASE.safetensors... [--max-binding-bytes N] [--json]
sdvae check --model PATH IO.safetensors... [--encoder PATH] [--weights as-stored|f16|f32] [--max-binding-bytes N] [--json]

Kernel case files: reads each file's op and params from its metadata, runs our kernels on its inputs,
and compares with its 'expected' tensor at the file's 'atol'.
Model io files (--model): loads the checkpoint (a diffusers folder, or a .safetensors/.ckpt/.pt/.bin
file, OpenAI's decoder.pt included), runs every case listed in the file's 'cases' metadata, and
compares every expected tensor and tapped module output at its atol; when a case fails, the first
diverging module is named. --encoder PATH: the model whose encoder runs the encode cases of a
consistency decoder that has none (decoder.pt).
Exits 1 if anything fails or a case names an unknown op.`;

export async function runCheck(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...GPU_OPTIONS,
      model: { type: 'string' },
      encoder: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(CHECK_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new Error(`check: no case files given\n\n${CHECK_HELP}`);
  const gpu = await Gpu.create(gpuOptions(values));
  if (values.model) {
    try {
      return await checkModel(gpu, values.model, positionals, values.json!, values.encoder, loadOptions(values));
    } finally {
      gpu.destroy();
    }
  }
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

async function checkModel(gpu: Gpu, dir: string, files: string[], json: boolean, encoder: string | undefined, opts: ModelOptions): Promise<number> {
  const runner = await loadRunner(gpu, dir, encoder, opts);
  const all: (TensorCheck & { file: string })[] = [];
  for (const file of files) {
    const { metadata, tensors } = readSafetensors(file);
    const checks = await runModelCases(runner, file, metadata, tensors, (c) => {
      if (!json) console.log(formatCheck(c));
    });
    all.push(...checks.map((c) => ({ ...c, file })));
  }
  const failed = all.filter((c) => !c.pass);
  const diverge = firstDivergence(all);
  if (json) console.log(JSON.stringify({ adapter: gpu.adapterName, maxBindingBytes: gpu.maxBindingBytes, passed: all.length - failed.length, failed: failed.length, firstDivergence: diverge.map((d) => ({ case: d.case, module: d.name })), checks: all }, null, 2));
  else {
    for (const d of diverge) console.log(`case ${d.case}: outputs first diverge at ${d.name} (max_abs_err ${d.maxAbsErr.toExponential(2)} > atol ${d.atol.toExponential(1)})`);
    console.log(`${all.length - failed.length} passed, ${failed.length} failed`);
  }
  return failed.length ? 1 : 0;
}

function formatCheck(c: TensorCheck): string {
  const status = c.pass ? 'PASS' : 'FAIL';
  const what = `${c.case} ${c.kind === 'tap' ? 'tap ' : ''}${c.name}`;
  if (c.error) return `${status}  ${what}  error: ${c.error}`;
  return `${status}  ${what.padEnd(56)} max_abs_err ${c.maxAbsErr.toExponential(2)}  atol ${c.atol.toExponential(1)}`;
}
