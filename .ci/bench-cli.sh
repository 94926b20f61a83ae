#!/usr/bin/env bash
# Whole-process benchmarks from the README "Performance" section (not run in
# CI; they take minutes). Needs hyperfine (apt-get install hyperfine) and,
# for the MariaDB rows, the local server as in .ci/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/scca" ./cmd/scca
scca="$work/scca"

echo "== scca issue client vs openssl req + x509 (ECDSA P-256, embedded store)"
cd "$work"
"$scca" init >/dev/null
cat > ext.cnf <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
hyperfine -N --warmup 5 --runs "${RUNS:-50}" \
  --prepare 'rm -f certs/bench_cert.pem certs/bench_key.pem k.pem r.csr c.pem' \
  -n 'scca issue client' "$scca issue client --cn bench" \
  -n 'openssl req + x509' "sh -c 'openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj /CN=bench -out r.csr 2>/dev/null && openssl x509 -req -in r.csr -CA certs/root_ca.pem -CAkey certs/root_ca_key.pem -set_serial 0x\$(openssl rand -hex 16) -days 365 -extfile ext.cnf -out c.pem 2>/dev/null'"
cd - >/dev/null

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
