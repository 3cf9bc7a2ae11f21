#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (test/browser, run by npm test and npm run
# test:browser through playwright-core, which uses this browser and downloads none).
# Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "chromium: could not be installed" >&2; exit 1; }
echo "chromium: installed $(/usr/bin/chromium --version 2>/dev/null)"
