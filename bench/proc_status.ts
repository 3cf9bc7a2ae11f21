// One field of Linux's /proc/self/status (VmRSS, VmHWM, RssAnon, RssShmem, ...): what the memory
// benches read to compare a plan with the process's real resident set. lavapipe backs device memory
// with shared memory, so there RssShmem is the GPU's bytes and RssAnon the host's.

import { readFileSync } from 'node:fs';

/** The field in KiB, or NaN where the file or the field does not exist (not Linux, an old kernel). */
export function procStatusKiB(field: string): number {
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return NaN;
  }
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}
