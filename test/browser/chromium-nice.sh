#!/bin/sh
# Chromium at a lower CPU priority (nice 10) for the browser tests: SwiftShader and lavapipe take every
# core they find, and vitest's main process, which must answer its test workers within 60 s, would
# otherwise starve on small machines. $CHROMIUM (default /usr/bin/chromium) is the browser.
exec nice -n 10 "${CHROMIUM:-/usr/bin/chromium}" "$@"
