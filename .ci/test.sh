#!/usr/bin/env bash
# The project's test command (README "Tests"): vet, staticcheck, race tests
# with the MySQL/MariaDB and PostgreSQL suites enabled, and short bounded fuzz runs.
# It starts the local MariaDB and PostgreSQL when they are down and installs the tools it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

export SCCA_TEST_MYSQL_DSN="${SCCA_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}"
export SCCA_TEST_POSTGRES_DSN="${SCCA_TEST_POSTGRES_DSN:-postgres://postgres@127.0.0.1:5432/postgres}"
export SCCA_TEST_NATS_URL="${SCCA_TEST_NATS_URL:-nats://127.0.0.1:4222}"
export PATH="$(go env GOPATH)/bin:$PATH"
# An execution count, not a duration: a duration-bounded -fuzztime can fail
# with a bare "context deadline exceeded" and no crasher when the machine is
# loaded (a race in Go's fuzz coordinator, golang/go#75804, fixed only in
# go1.27). A count has no deadline to race; -timeout still catches a hang.
FUZZTIME="${FUZZTIME:-10000x}"

step() { printf '\n== %s\n' "$*"; }

step "MariaDB"
if ! mysqladmin --protocol=tcp -h127.0.0.1 -uroot status >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for i in $(seq 1 60); do
    mysqladmin --protocol=tcp -h127.0.0.1 -uroot status >/dev/null 2>&1 && break
    sleep 1
    [ "$i" = 60 ] && { echo "MariaDB did not come up in 60s" >&2; exit 1; }
  done
fi
mysqladmin --protocol=tcp -h127.0.0.1 -uroot version | grep -E '^Server version' || true

step "PostgreSQL"
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for i in $(seq 1 60); do
    pg_isready -h 127.0.0.1 -p 5432 -q && break
    sleep 1
    [ "$i" = 60 ] && { echo "PostgreSQL did not come up in 60s" >&2; exit 1; }
  done
fi
psql "$SCCA_TEST_POSTGRES_DSN" -Atc 'SHOW server_version' || true

step "NATS (JetStream) for the chat cluster tests"
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  [ -x /usr/sbin/nats-server ] || { apt-get update -qq && apt-get install -y -qq nats-server; }
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for i in $(seq 1 30); do
    (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break
    sleep 1
    [ "$i" = 30 ] && { echo "NATS did not come up in 30s" >&2; exit 1; }
  done
fi

step "tools"
command -v staticcheck >/dev/null 2>&1 || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2

step "chromium (browser tests of web/)"
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
chromium --version

step "web: committed bundle matches the sources; JS tests against the Go vectors"
cp web/static/app.js /tmp/scca-app.js.bak
bash web/build.sh
if ! cmp -s web/static/app.js /tmp/scca-app.js.bak; then
  echo "web/static/app.js does not match web/src (run web/build.sh and commit)" >&2
  cp /tmp/scca-app.js.bak web/static/app.js
  exit 1
fi
node --test web/test/

step "go mod tidy check"
cp go.mod /tmp/scca-go.mod.bak; cp go.sum /tmp/scca-go.sum.bak
go mod tidy
if ! diff -q go.mod /tmp/scca-go.mod.bak >/dev/null || ! diff -q go.sum /tmp/scca-go.sum.bak >/dev/null; then
  echo "go.mod/go.sum are not tidy" >&2
  cp /tmp/scca-go.mod.bak go.mod; cp /tmp/scca-go.sum.bak go.sum
  exit 1
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || { echo "gofmt needed:"; echo "$unformatted"; exit 1; }

step "go vet"
go vet ./...

step "staticcheck"
staticcheck ./...

step "README: the runnable blocks, in order, in a scratch directory"
bash .ci/readme-check.sh

step "go test -race"
# With the SQLite that .ci/build.sh ships (its compile options), so that
# the store's own sync of the WAL's directory is what these tests run;
# certstore's TestWALNameFollowsTheLibrary fails if the flags did not apply.
. .ci/sqlite-cflags.sh
CGO_CFLAGS="-O2 -g $SCCA_SQLITE_CFLAGS" SCCA_TEST_SQLITE_NO_DIRSYNC=1 go test -race -count=1 -timeout 12m ./...

# The embedded inventory's driver depends on cgo (certstore/dialect/sqlite):
# the race run above used go-sqlite3; the pure-Go build (CGO_ENABLED=0,
# modernc.org/sqlite) runs the inventory and CLI suites on its own.
step "go test, CGO_ENABLED=0 (pure-Go SQLite driver)"
CGO_ENABLED=0 go vet ./...
CGO_ENABLED=0 go test -count=1 -timeout 8m ./certstore/... ./inventory/ ./cmd/scca/

# The static build of .ci/build.sh (README "Build"): it must link, and it
# must issue, list and verify in a fresh directory.
step "static build (.ci/build.sh) and a smoke run"
smoke=$(mktemp -d)
bash .ci/build.sh "$smoke/scca"
(cd "$smoke" && ./scca init >/dev/null && ./scca issue client --cn smoke >/dev/null && ./scca list | grep smoke >/dev/null &&
  ./scca audit --verify >/dev/null && openssl verify -CAfile certs/root_ca.pem certs/smoke_cert.pem >/dev/null)
rm -rf "$smoke"

step "fuzz (bounded: $FUZZTIME each)"
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "-- $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -timeout 5m "$pkg"
  done
done
