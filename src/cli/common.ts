// Small helpers shared by the commands: parsing sizes and numbers, the options every GPU command takes,
// progress lines on stderr.

import type { GpuOptions } from '../gpu/gpu.js';
import type { LoadOptions } from '../models/params.js';
import { WEIGHT_STORAGES, type WeightStorage } from '../kernels/weight_format.js';

export function parseSize(name: string, v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)(?:x(\d+))?$/.exec(v);
  if (!m) throw new Error(`--${name}: expected WIDTHxHEIGHT or SIZE (e.g. 512x512 or 256), got "${v}"`);
  const w = Number(m[1]);
  const h = m[2] ? Number(m[2]) : w;
  if (w < 1 || h < 1 || w > 16384 || h > 16384) throw new Error(`--${name}: ${w}x${h} is out of range (1 to 16384)`);
  return [w, h];
}

export function parseIntArg(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

export function parsePrecision(v: string | undefined): 'fp32' | 'fp16' | 'u8' {
  const p = v ?? 'fp16';
  if (p !== 'fp32' && p !== 'fp16' && p !== 'u8') throw new Error(`--precision: expected fp32, fp16 or u8, got "${p}"`);
  return p;
}

export function progress(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

export class UsageError extends Error {}

/** --clamp / --no-clamp: true, false, or undefined (the model's default: OpenAI's sampler for decoder.pt). */
export function clampOption(clamp: boolean | undefined, noClamp: boolean | undefined): boolean | undefined {
  if (clamp && noClamp) throw new UsageError('give --clamp or --no-clamp, not both');
  return clamp ? true : noClamp ? false : undefined;
}

/** A memory size: bytes, or a number with KiB/MiB/GiB (or K/M/G, binary), e.g. 6GiB, 512M. */
export function parseMemorySize(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(k|kib|m|mib|g|gib)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--${name}: expected a size such as 6GiB, 512MiB or a number of bytes, got "${v}"`);
  const unit = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(m[2] ?? '').charAt(0).toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 2 ** 20) throw new UsageError(`--${name}: ${v} is below 1 MiB`);
  return bytes;
}

/** The options every GPU command takes (parseArgs specs). */
export const GPU_OPTIONS = {
  'max-binding-bytes': { type: 'string' },
  'memory-budget': { type: 'string' },
  weights: { type: 'string' },
  activations: { type: 'string' },
  'force-f16': { type: 'boolean' },
} as const;

export const GPU_OPTIONS_HELP = `  --weights as-stored|f16|f32  how weights are kept on the GPU (default as-stored: F16/BF16 stay 16-bit)
  --activations f32|f16  how activations are stored (f16: half the memory; needs shader-f16; refused
                         for configs with force_upcast: true unless --force-f16)
  --memory-budget SIZE   plan first and refuse a run that needs more GPU memory (e.g. 6GiB)
  --max-binding-bytes N  plan GPU work with this storage-binding limit`;

type GpuValues = { 'max-binding-bytes'?: string; 'memory-budget'?: string; weights?: string; activations?: string; 'force-f16'?: boolean };

export function gpuOptions(values: GpuValues): GpuOptions {
  const n = values['max-binding-bytes'];
  let maxBindingBytes: number | undefined;
  if (n !== undefined) {
    maxBindingBytes = Number(n);
    if (!Number.isInteger(maxBindingBytes) || maxBindingBytes < 256) throw new UsageError(`--max-binding-bytes: expected an integer number of bytes >= 256, got "${n}"`);
  }
  return { maxBindingBytes, memoryBudget: parseMemorySize('memory-budget', values['memory-budget']) };
}

export function loadOptions(values: GpuValues): LoadOptions & { activations?: 'f32' | 'f16'; forceF16?: boolean } {
  const w = values.weights ?? 'as-stored';
  if (!(WEIGHT_STORAGES as readonly string[]).includes(w)) throw new UsageError(`--weights: expected ${WEIGHT_STORAGES.join(', ')}, got "${w}"`);
  const a = values.activations;
  if (a !== undefined && a !== 'f32' && a !== 'f16') throw new UsageError(`--activations: expected f32 or f16, got "${a}"`);
  return { storage: w as WeightStorage, activations: a, forceF16: values['force-f16'] };
}
