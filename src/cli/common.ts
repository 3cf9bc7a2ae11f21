// Small helpers shared by the commands: parsing sizes and numbers, progress lines on stderr.

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
