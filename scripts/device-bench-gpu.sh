#!/usr/bin/env bash
# Runs `npm run bench:gpu` (bench/gpu.ts) on the device tool's GPU machine from what scripts/device-pack.sh
# packed here: unpacks Node, the runtime dependencies and the build, brings the Vulkan loader if the
# machine has none, points Vulkan at the NVIDIA driver, and writes to $OUT:
#   device.txt      nvidia-smi's name, driver and memory, and the commit and Node version packed
#   bench-gpu.md    the benchmark's markdown (checks, then the timings table and the tuner's picks)
#   bench-gpu.err   its progress lines and any error
#   profile-vae.md, profile-consistency.md   bench:profile of one decode / UNet evaluation, if time is left
#   tune.json       the tuner's cache after the run (what `--tune full` measured on this adapter: the
#                   makings of a shipped table for it, as scripts/tune-table.mjs makes lavapipe's)
# BENCH_ARGS overrides the benchmark's arguments (default: the issue's sizes 256, 512, 1024, 3 runs, and
# the tuner measuring every conv class it has no result for);
# BENCH_TIMEOUT (seconds, default 420) stops it early; DEADLINE (default 540) ends the profiles after it,
# so that a call with timeout_s 600 returns with everything written.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
P=.device-pack
[ -f "$P/node.xz" ] || { echo "no $P/node.xz: run scripts/device-pack.sh on the dev machine and carry .device-pack" >&2; exit 2; }

mkdir -p /tmp/device-node/bin
xz -dc "$P/node.xz" > /tmp/device-node/bin/node && chmod +x /tmp/device-node/bin/node
export PATH=/tmp/device-node/bin:$PATH
tar xJf "$P/node_modules.tar.xz"
tar xJf "$P/dist.tar.xz"
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  echo "no Vulkan loader installed: unpacking $(ls "$P"/debs)"
  for f in "$P"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ] && export VK_DRIVER_FILES=$nvidia_icd
export XDG_RUNTIME_DIR=/tmp/xdg
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
export SDVAE_TUNE_FILE=$OUT/tune.json

{
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; else echo "nvidia-smi: not found"; fi
  echo "commit $(cat "$P/commit.txt"), node $(node --version), VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
} | tee "$OUT/device.txt"

# shellcheck disable=SC2086 # BENCH_ARGS is a list of arguments
timeout "${BENCH_TIMEOUT:-420}" node dist/bench/gpu.js ${BENCH_ARGS:---sizes 256,512,1024 --runs 3 --tune full} \
  2> >(tee "$OUT/bench-gpu.err" >&2) | tee "$OUT/bench-gpu.md"
rc=${PIPESTATUS[0]}
echo "bench:gpu exited with $rc"

# With the time left before DEADLINE (seconds since this script started, default 540): where the GPU time
# of one SD VAE decode at 512x512 and one consistency UNet evaluation at 128x128 goes, by op kind and by
# Winograd stage (bench:profile, the tuner's picks from above).
# PROFILES overrides which (';' between runs of bench:profile's --model arguments).
deadline=${DEADLINE:-540}
IFS=';' read -r -a profiles <<< "${PROFILES:-vae --size 512;consistency --size 128}"
for p in "${profiles[@]}"; do
  left=$((deadline - SECONDS))
  [ "$left" -gt 30 ] || { echo "no time left for bench:profile --model $p"; break; }
  name=profile-${p%% *}.md
  # shellcheck disable=SC2086
  timeout "$left" node dist/bench/profile.js --model $p --runs 3 --top 10 --tune cached 2>>"$OUT/profile.err" > "$OUT/$name" \
    && echo "wrote $name" || echo "bench:profile --model $p stopped ($?)"
done
exit "$rc"
