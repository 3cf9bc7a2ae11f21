#!/usr/bin/env bash
# Installs Mesa's lavapipe (Vulkan on the CPU) so that Dawn (npm `webgpu`) finds an adapter on a machine
# without a GPU driver. Debian 12 ships Mesa 22.3, which Dawn refuses ("shaderUniform*ArrayDynamicIndexing
# required"), so the driver comes from bookworm-backports (Mesa >= 24).
# Idempotent: does nothing when a new enough lavapipe is already installed.
set -euo pipefail

have_lavapipe() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 24
}

if have_lavapipe; then
  echo "lavapipe: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

. /etc/os-release
if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "lavapipe: adding the bookworm-backports apt source"
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
else
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi

have_lavapipe || { echo "lavapipe: mesa-vulkan-drivers >= 24 could not be installed" >&2; exit 1; }
echo "lavapipe: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
