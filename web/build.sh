#!/bin/sh
# Rebuilds static/app.js (committed, embedded in the scca binary) from
# src/ with the exact package versions of package-lock.json. CI runs it and
# checks that the committed bundle is what the sources give.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts >/dev/null
node_modules/.bin/esbuild src/app.js --bundle --format=esm --target=es2022 \
	--minify --legal-comments=eof --log-level=warning --outfile=static/app.js
