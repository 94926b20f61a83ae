#!/usr/bin/env bash
# Builds the fastest-starting scca binary this machine can make (README,
# "Build"): with a C compiler, cgo SQLite (github.com/mattn/go-sqlite3) in a
# fully static executable — netgo and osusergo keep the C library's resolver
# and user lookup out, sqlite_omit_load_extension SQLite's dlopen — and
# without one, the pure-Go build (CGO_ENABLED=0, modernc.org/sqlite), also
# static. SQLite's C code is compiled with the options in
# .ci/sqlite-cflags.sh (fdatasync for commits; the WAL's directory synced
# by the store, not by SQLite in every process).
# Usage: .ci/build.sh [OUTPUT] (default ./scca).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-scca}
cc=${CC:-gcc}
. .ci/sqlite-cflags.sh
# The cgo build needs a C compiler and the C library's static archive
# (libc6-dev, which gcc only recommends); when it cannot be made, the
# pure-Go build is the answer, not a failure.
if command -v "${cc%% *}" >/dev/null 2>&1 && [ "$(go env CGO_ENABLED)" = 1 ] &&
  CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} $SCCA_SQLITE_CFLAGS" go build -trimpath -tags netgo,osusergo,sqlite_omit_load_extension \
    -ldflags '-s -w -linkmode external -extldflags "-static"' -o "$out" ./cmd/scca; then
  exit 0
fi
echo "build.sh: no static cgo build here; building the pure-Go one (CGO_ENABLED=0)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out" ./cmd/scca
