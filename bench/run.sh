#!/bin/sh
# make bench: every benchmark, side by side with Postfix, results in bench/results/.
# Needs root (a private Postfix instance) and Debian's postfix package (smtp-source,
# smtp-sink). Takes a while: each point is measured three times.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
export MAILRELAY_BIN="$(cd "$build/bin" && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (it starts a private Postfix)"; exit 1; }
"$here/../packaging/create-users.sh"
cd "$here"
/usr/bin/python3 accept.py "$@"
/usr/bin/python3 e2e.py "$@"
/usr/bin/python3 group_commit.py "$@"
