#!/usr/bin/env bash
# Instructions per benchmark iteration, independent of machine load:
#   .ci/bench-ir.sh PKG 'BenchmarkRegex' N1 N2
# runs the package's test binary under callgrind twice (-benchtime N1x and
# N2x) and prints (Ir(N2) - Ir(N1)) / (N2 - N1), so setup cancels out.
# Counts cover every goroutine of the process (client and server both);
# work done by another process (e.g. MariaDB) is not counted.
# GODEBUG: valgrind does not decode RDTSCP and mishandles Go's preemption
# signals. GOMAXPROCS=1: valgrind runs one thread at a time anyway, and with
# more Ps the scheduler's idle spinning is counted too, an amount that
# depends on timing (seen: setup counts varying by 1.6 G instructions
# between two runs; with one P, two runs agree within 0.2 %).
set -euo pipefail
pkg=$1 re=$2 n1=$3 n2=$4
bin=$(mktemp -d)/bench.test
go test -c -o "$bin" "$pkg"
ir() {
	(cd "$pkg" && GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$bin" -test.run '^$' -test.bench "$re" -test.benchtime "${1}x" 2>&1) |
		awk '/FAIL/{print "FAIL" > "/dev/stderr"; exit 1} /Collected :/{print $4}'
}
a=$(ir "$n1")
b=$(ir "$n2")
echo "$re $(((b - a) / (n2 - n1))) instructions/op"
