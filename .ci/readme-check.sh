#!/usr/bin/env bash
# Runs the README's runnable command blocks (```sh; ```bash blocks are
# reference, not run) in order, in one shell, in a scratch directory, with a
# freshly built scca on PATH, so the README stays true. Each block must exit 0;
# the whole walk has a time limit, and background jobs it leaves are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/bin" "$scratch/walk"
go build -o "$scratch/bin/scca" ./cmd/scca

# One script: the blocks in README order, each announced.
awk '
  /^```sh[[:space:]]*$/ { inblock = 1; n++; printf "echo \"== README block %d\" >&2\n", n; next }
  /^```/ && inblock    { inblock = 0; next }
  inblock              { print }
' README.md > "$scratch/walk.sh"
blocks=$(grep -c '^echo "== README block' "$scratch/walk.sh" || true)
[ "$blocks" -gt 0 ] || { echo "README.md has no runnable sh blocks" >&2; exit 1; }

cd "$scratch/walk"
export PATH="$scratch/bin:$PATH" HOME="$scratch" SCCA_ACTOR=readme-check
unset SCCA_DB SCCA_CERTS_DIR SCCA_BASE_URL SCCA_CONFIG
# -m: job control, so a block's `cmd &` / `kill %1` work as in a terminal.
if ! timeout --kill-after=5 "${README_TIMEOUT:-180}" bash -meuo pipefail "$scratch/walk.sh" </dev/null; then
  echo "README walk failed (see the block announced last above)" >&2
  exit 1
fi
echo "README: $blocks runnable blocks ran" >&2
