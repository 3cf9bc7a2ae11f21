#!/usr/bin/env bash
# The memory plan against a real run on lavapipe (GPU memory is host memory there): peak RSS of a
# decode minus that of a baseline process, next to the plan. Usage: scripts/memory-check.sh vae|consistency SIZE [F32|F16]
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/sdvae-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
rss() { /usr/bin/time -v node --expose-gc dist/bench/memory_check.js "$@" 2> >(grep 'Maximum resident' | awk '{print $6}' > /tmp/sdvae-rss.$$) | grep '^{' ; sleep 0.2; cat /tmp/sdvae-rss.$$; }
baseOut=$(rss baseline)
base=$(echo "$baseOut" | tail -1)
baseJson=$(echo "$baseOut" | head -1)
out=$(rss "$@")
json=$(echo "$out" | head -1)
peak=$(echo "$out" | tail -1)
node -e '
  const r = JSON.parse(process.argv[1]); const base = +process.argv[2], peak = +process.argv[3];
  const realMiB = (peak - base) / 1024;
  console.log(`${r.what} ${r.size}x${r.size} ${r.dtype} weights: planned ${r.plannedMiB} MiB, pool held ${r.poolHeldMiB} MiB, ` +
    `process peak RSS ${(peak / 1024).toFixed(0)} MiB - baseline ${(base / 1024).toFixed(0)} MiB = ${realMiB.toFixed(0)} MiB ` +
    `(${((realMiB / r.plannedMiB - 1) * 100).toFixed(1)}% vs plan); the decode itself: planned +${r.plannedRunMiB} MiB, ` +
    `measured +${r.measuredRunMiB} MiB; peak RSS during the measured decode ${(r.decodePeakRssKiB / 1024).toFixed(0)} MiB - baseline = ` +
    `${((r.decodePeakRssKiB - base) / 1024).toFixed(0)} MiB (${(((r.decodePeakRssKiB - base) / 1024 / r.plannedMiB - 1) * 100).toFixed(1)}% vs plan); ` +
    `the first decode over the loaded model: planned +${r.firstPlannedRunMiB} MiB, measured +${r.firstMeasuredRunMiB} MiB ` +
    `(${((r.firstMeasuredRunMiB / r.firstPlannedRunMiB - 1) * 100).toFixed(1)}%); decode ${r.seconds} s`);
  // Where the excess lives: anonymous memory (driver allocations, heap) vs file-backed pages (code of
  // the driver and LLVM that compiles touch), over what the baseline process holds.
  const b = JSON.parse(process.argv[4]).rssParts, p = r.rssParts;
  const d = (x, k) => ((x[k] - b[k]) / 1024).toFixed(0);
  // lavapipe backs VkDeviceMemory with shared memory: RssShmem is what the device holds, next to the plan.
  const device = (p.second.shmem - b.shmem) / 1024;
  console.log(`  device memory (RssShmem) after the decodes: ${device.toFixed(0)} MiB (${((device / r.plannedMiB - 1) * 100).toFixed(1)}% vs plan)`);
  console.log(`  over the baseline (MiB): ` + ["loaded", "first", "second"].map((s) => `${s} anon +${d(p[s], "anon")} (of it JS heap +${d(p[s], "jsHeap")}) file +${d(p[s], "file")} shmem +${d(p[s], "shmem")}`).join("; "));
' "$json" "$base" "$peak" "$baseJson"
