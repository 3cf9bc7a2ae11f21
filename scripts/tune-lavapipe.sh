#!/usr/bin/env bash
# Regenerates src/gpu/tune_lavapipe.ts, the shipped tuning table for lavapipe: tunes the SD VAE
# (encode + decode at 256x256) and the consistency decoder (encode + 2-step decode at 128x128) from
# their architecture manifests into a fresh cache file, then writes the table from it. Takes tens of
# minutes on 2 cores (7 on an AMD EPYC, 2026-12-02). --full: without it the shipped table itself
# answers and nothing is timed. The tiled variant is left out: on lavapipe it was 2-30x slower than
# the subgroup kernel at nearly every tiny-VAE shape measured (`sdvae tune` tables), and the rule
# never picks it there.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
cache=$(mktemp -d)/tune.json
m=test/fixtures/reference/manifests
node dist/src/cli/main.js tune --manifest $m/sd-vae-ft-mse.json --size 256 --full --variants subgroup,winograd,winograd4 --cache "$cache"
node dist/src/cli/main.js tune --manifest $m/consistency-decoder.json --size 128 --full --variants subgroup,winograd,winograd4 --cache "$cache"
node scripts/tune-table.mjs "$cache" > src/gpu/tune_lavapipe.ts.tmp && mv src/gpu/tune_lavapipe.ts.tmp src/gpu/tune_lavapipe.ts
