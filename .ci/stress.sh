#!/usr/bin/env bash
# Flakiness check (issue 10): run the chat and cmd/scca suites with -race
# -count=20 while two busy loops keep both cores loaded. Any failure fails
# the script. Takes a long time (tens of minutes); not part of .ci/test.sh.
# PKGS overrides the packages, COUNT the repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."
export SCCA_TEST_MYSQL_DSN="${SCCA_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}"
export SCCA_TEST_POSTGRES_DSN="${SCCA_TEST_POSTGRES_DSN:-postgres://postgres@127.0.0.1:5432/postgres}"
export SCCA_TEST_NATS_URL="${SCCA_TEST_NATS_URL:-nats://127.0.0.1:4222}"
# The database and NATS tests fail rather than skip when a server is missing.
export CI=true
pkgs=${PKGS:-"./chat/ ./cmd/scca/"}
count=${COUNT:-20}
hogs=()
for _ in $(seq "$(nproc)"); do
  (while :; do :; done) &
  hogs+=($!)
done
trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
start=$(date +%s)
# shellcheck disable=SC2086
. .ci/sqlite-cflags.sh
CGO_CFLAGS="-O2 -g $SCCA_SQLITE_CFLAGS" SCCA_TEST_SQLITE_NO_DIRSYNC=1 go test -race -count="$count" -timeout 3h $pkgs
echo "stress: -race -count=$count on $pkgs under $(nproc) busy loops passed in $(( $(date +%s) - start )) s"
