#!/usr/bin/env bash
# Packs what `npm run bench:gpu` needs on a bare GPU machine into .device-pack/ (git-ignored), so that a
# session lent one (the `device` tool: an x86-64 machine with no Node.js, no npm and no network) can run
# the benchmark in one call:
#
#   bash scripts/device-pack.sh                      # here, once per build (~1 min)
#   device run: command "bash scripts/device-bench-gpu.sh", carry [".device-pack"], timeout_s 540
#
# .device-pack/ holds
#   node.xz               this machine's node binary (x86-64; it links only glibc, libstdc++ and libgcc)
#   node_modules.tar.xz   the runtime dependencies: webgpu (its linux-x64 dawn.node only) and pngjs
#   dist.tar.xz           the built project (npm run build)
#   debs/                 Debian's Vulkan loader (libvulkan1), unpacked there only where none is installed
# The working tree travels with it, 64 MiB in all: the script prints the total and fails above it.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(uname -m)" = x86_64 ] || { echo "device-pack: this machine is $(uname -m); the GPU machine runs x86-64 binaries" >&2; exit 1; }
[ -d node_modules/webgpu/dist/linux-x64 ] || { echo "device-pack: node_modules/webgpu is missing: run npm ci first" >&2; exit 1; }

npm run build --silent
rm -rf .device-pack
mkdir -p .device-pack/debs
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > .device-pack/node.xz
tar cf - node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/dist/linux-x64 node_modules/pngjs \
  | xz -T0 -6 > .device-pack/node_modules.tar.xz
tar cf - dist | xz -T0 -6 > .device-pack/dist.tar.xz
(cd .device-pack/debs && apt-get download libvulkan1 >/dev/null 2>&1) || { echo "device-pack: apt-get download libvulkan1 failed" >&2; exit 1; }
git rev-parse HEAD > .device-pack/commit.txt

# What travels: tracked files, untracked files git does not ignore, and the carried .device-pack.
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
pack_bytes=$(du -sb .device-pack | cut -f1)
total=$((tree_bytes + pack_bytes))
limit=$((64 * 1024 * 1024))
printf 'device-pack: working tree %.1f MiB + .device-pack %.1f MiB = %.1f MiB (limit 64 MiB)\n' \
  "$(echo "$tree_bytes / 1048576" | bc -l)" "$(echo "$pack_bytes / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)"
[ "$total" -le "$limit" ] || { echo "device-pack: above the 64 MiB a device call carries" >&2; exit 1; }
