#!/usr/bin/env bash
# Whole-process benchmarks from the README "Performance" section (not run in
# CI; they take minutes). Needs hyperfine (installed from Debian if missing)
# and, for the MariaDB rows, the local server as in .ci/test.sh. The anchors
# smallstep `step` and `cfssl` are built with `go install` at pinned
# versions; one that cannot be had is skipped, and the script says so.
# CLI_ONLY=1 stops after the issuance comparison. BASELINE=/path/to/scca adds
# another scca build (e.g. main's) to the same hyperfine run, in a CA
# directory of its own, so that before/after is measured side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The build the README's performance section measures: .ci/build.sh (static;
# cgo SQLite when a C compiler exists). A plain cgo `go build` loads the C
# library dynamically, which costs about 1.4 ms of every process's start-up.
bash .ci/build.sh "$work/scca"
scca="$work/scca"

if ! command -v hyperfine >/dev/null; then
  apt-get install -y hyperfine >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y hyperfine >/dev/null; }
fi
STEP_VERSION=v0.28.7
CFSSL_VERSION=v1.6.5
mkdir -p "$work/bin"
step="" cfssl=""
if GOBIN="$work/bin" go install "github.com/smallstep/cli/cmd/step@$STEP_VERSION" 2>"$work/step.log"; then
  step="$work/bin/step"
else
  echo "SKIP step certificate create: go install github.com/smallstep/cli/cmd/step@$STEP_VERSION failed: $(tail -1 "$work/step.log")"
fi
if GOBIN="$work/bin" go install "github.com/cloudflare/cfssl/cmd/cfssl@$CFSSL_VERSION" 2>"$work/cfssl.log"; then
  cfssl="$work/bin/cfssl"
else
  echo "SKIP cfssl gencert: go install github.com/cloudflare/cfssl/cmd/cfssl@$CFSSL_VERSION failed: $(tail -1 "$work/cfssl.log")"
fi

echo "== scca issue client vs one-step openssl, step and cfssl (ECDSA P-256 leaf under the scca root, embedded store)"
echo "   load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
cd "$work"
"$scca" init >/dev/null
ca=certs/root_ca.pem cakey=certs/root_ca_key.pem
cat > csr.json <<'JSON'
{"CN":"bench","key":{"algo":"ecdsa","size":256}}
JSON
cat > cfssl.json <<'JSON'
{"signing":{"default":{"expiry":"8760h","usages":["digital signature","client auth"]}}}
JSON
# scca: every run records a row, and one client CN has one active holder,
# so before each run (untimed: hyperfine's --prepare, perf's --pre, the
# interleaved loop below) prep.sh revokes the previous "bench" and removes
# its files; the timed command is a plain first issuance of the CN. (Taking
# it over with --replace would also republish the CRL, a CRL that grows by
# one entry per run.)
# openssl: one process, key generation and signing (`req -x509 -CA`), no
# inventory, no fsync. step: the same, files written without fsync. cfssl:
# key, CSR and certificate as JSON on stdout (discarded by hyperfine), no
# files at all.
cat > prep.sh <<PREP
#!/bin/sh
# Frees the CN "bench" (and its files) in each CA dir; never fails.
"$scca" revoke --cn bench --reason superseded --yes >/dev/null 2>&1
rm -f certs/bench_cert.pem certs/bench_key.pem certs/bench_chain.pem k.pem c.pem sc.pem sk.pem
if [ -n "${BASELINE:-}" ]; then
  "${BASELINE:-}" --certs-dir base/certs --db sqlite:base/certs/inventory.db revoke --cn bench --reason superseded --yes >/dev/null 2>&1
  rm -f base/certs/bench_cert.pem base/certs/bench_key.pem base/certs/bench_chain.pem
fi
exit 0
PREP
cmds=(-n 'scca issue client' "$scca issue client --cn bench"
  -n 'openssl req -x509 -CA' "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout k.pem -subj /CN=bench -CA $ca -CAkey $cakey -days 365 -addext basicConstraints=critical,CA:FALSE -addext keyUsage=critical,digitalSignature -addext extendedKeyUsage=clientAuth -out c.pem")
if [ -n "${BASELINE:-}" ]; then
  mkdir base && (cd base && "$BASELINE" init >/dev/null)
  cmds+=(-n 'scca issue client (baseline)' "$BASELINE --certs-dir base/certs --db sqlite:base/certs/inventory.db issue client --cn bench")
fi
[ -n "$step" ] && cmds+=(-n 'step certificate create' "$step certificate create bench sc.pem sk.pem --profile leaf --ca $ca --ca-key $cakey --no-password --insecure --kty EC --curve P-256 --not-after 8760h -f")
[ -n "$cfssl" ] && cmds+=(-n 'cfssl gencert' "$cfssl gencert -loglevel 5 -ca $ca -ca-key $cakey -config cfssl.json csr.json")
hyperfine -N --warmup 5 --runs "${RUNS:-50}" \
  --prepare 'sh prep.sh' "${cmds[@]}"
# CPU time is less sensitive to other load than wall time.
clean='sh prep.sh'
if command -v perf >/dev/null; then
  perf stat -r 20 -e task-clock,page-faults --pre "$clean" "$scca" issue client --cn bench 2>&1 >/dev/null | grep -E 'task-clock|page-faults|elapsed' | sed 's/^/scca:     /' || true
  [ -n "${BASELINE:-}" ] && { perf stat -r 20 -e task-clock,page-faults --pre "$clean" "$BASELINE" --certs-dir base/certs --db sqlite:base/certs/inventory.db issue client --cn bench 2>&1 >/dev/null | grep -E 'task-clock|page-faults|elapsed' | sed 's/^/baseline: /' || true; }
  perf stat -r 20 -e task-clock,page-faults openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -keyout k.pem -subj /CN=bench -CA $ca -CAkey $cakey -days 365 -out c.pem 2>&1 >/dev/null | grep -E 'task-clock|page-faults|elapsed' | sed 's/^/openssl:  /' || true
fi
# hyperfine runs each command's runs in one block, so a machine whose disk
# or CPU slows down between blocks biases the comparison. Interleaved rounds
# (scca, openssl and the baseline once each per round) see the same machine:
# the median of the per-round ratios is the figure the README quotes.
echo "== interleaved: ${ROUNDS:-60} rounds, each runs every command once (wall time, ms; per-round ratio to openssl)"
python3 - "$scca" "${BASELINE:-}" "$ca" "$cakey" "${ROUNDS:-60}" <<'PY'
import os, statistics, subprocess, sys, time
scca, base, ca, cakey, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
cmds = {
    "scca": ([scca, "issue", "client", "--cn", "bench"], ["certs/bench_cert.pem", "certs/bench_key.pem", "certs/bench_chain.pem"]),
    "openssl": (["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                 "-keyout", "k.pem", "-subj", "/CN=bench", "-CA", ca, "-CAkey", cakey, "-days", "365",
                 "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature",
                 "-addext", "extendedKeyUsage=clientAuth", "-out", "c.pem"], ["k.pem", "c.pem"]),
}
if base:
    cmds["baseline"] = ([base, "--certs-dir", "base/certs", "--db", "sqlite:base/certs/inventory.db", "issue", "client",
                         "--cn", "bench"], ["base/certs/bench_cert.pem", "base/certs/bench_key.pem", "base/certs/bench_chain.pem"])
wall = {k: [] for k in cmds}
for _ in range(rounds):
    # Untimed: frees the CN "bench" in each CA dir (prep.sh, above).
    subprocess.run(["sh", "prep.sh"], check=True)
    for name, (argv, outputs) in cmds.items():
        for f in outputs:
            try:
                os.remove(f)
            except FileNotFoundError:
                pass
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wall[name].append((time.perf_counter() - t) * 1000)
for name, w in wall.items():
    q = statistics.quantiles(w, n=4)
    line = f"{name:9s} median {statistics.median(w):6.2f} ms  (p25 {q[0]:6.2f}, p75 {q[2]:6.2f}), mean {statistics.mean(w):6.2f} ms"
    if name != "openssl":
        # The mean counts the occasional command that truncates the WAL
        # (certstore/checkpoint.go: about one in twenty), which the median
        # of the ratios does not see.
        r = sorted(a / b for a, b in zip(w, wall["openssl"]))
        line += f"  ratio to openssl: median {statistics.median(r):.2f}x (p25 {statistics.quantiles(r, n=4)[0]:.2f}, p75 {statistics.quantiles(r, n=4)[2]:.2f}), of the means {statistics.mean(w) / statistics.mean(wall['openssl']):.2f}x"
    print(line)
PY
echo "== fsyncs of one scca issue client (each is justified in the README, Performance)"
if command -v strace >/dev/null; then
  sh -c "$clean"
  strace -f -y -e trace=fsync,fdatasync "$scca" issue client --cn bench 2>&1 >/dev/null | grep -oE 'f(data)?sync\([0-9]+<[^>]*>' | tee syncs.txt
  echo "scca: $(wc -l <syncs.txt) syncs"
  if [ -n "${BASELINE:-}" ]; then
    sh prep.sh
    strace -f -y -e trace=fsync,fdatasync "$BASELINE" --certs-dir base/certs --db sqlite:base/certs/inventory.db issue client --cn bench 2>&1 >/dev/null | grep -cE 'f(data)?sync\(' | sed 's/^/baseline: /; s/$/ syncs/'
  fi
else
  echo "(strace not installed)"
fi
cd - >/dev/null
[ "${CLI_ONLY:-0}" = 1 ] && exit 0

rows=${ROWS:-1000000}
echo "== scca list --limit 100 on $rows certificates"
SCCA_SEED_ROWS=$rows SCCA_SEED_URL="sqlite:$work/big.db" go test -count=1 -run TestSeedFixture -timeout 30m ./certstore/ >/dev/null
dsn="${SCCA_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/}"
db=scca_bench_list_$$
mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $db"
trap 'rm -rf "$work"; mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db"' EXIT
SCCA_SEED_ROWS=$rows SCCA_SEED_URL="${dsn}${db}" go test -count=1 -run TestSeedFixture -timeout 30m ./certstore/ >/dev/null
hyperfine -N --warmup 3 --runs 30 \
  -n 'sqlite' "$scca --db sqlite:$work/big.db list --limit 100" \
  -n 'mariadb' "$scca --db ${dsn}${db} list --limit 100"
for f in json csv; do
  /usr/bin/time -f "list -o $f, all $rows rows, sqlite: %e s, max RSS %M KiB" "$scca" --db "sqlite:$work/big.db" list -o $f >/dev/null
  /usr/bin/time -f "list -o $f, all $rows rows, mariadb: %e s, max RSS %M KiB" "$scca" --db "${dsn}${db}" list -o $f >/dev/null
done
