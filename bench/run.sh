#!/bin/sh
# make bench: every benchmark, side by side with Postfix, results in bench/results/ and the
# plot in bench/rate_vs_sessions.png. Needs root (a private Postfix instance, a block-I/O
# cgroup for the slow-disk run) and Debian's postfix package (smtp-source, smtp-sink).
# Takes a while: each point is measured three times (pass --repeat 1 for a quick look).
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
export MAILRELAY_BIN="$(cd "$build/bin" && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (it starts a private Postfix)"; exit 1; }
"$here/../packaging/create-users.sh"
cd "$here"
/usr/bin/python3 accept.py "$@"
/usr/bin/python3 e2e.py "$@"
/usr/bin/python3 latency.py
/usr/bin/python3 group_commit.py "$@"
# The same curve on a disk throttled to 200 write operations a second (about 70 fsyncs/s).
/usr/bin/python3 group_commit.py --write-iops 200 --postfix "$@"
/usr/bin/python3 plot.py
