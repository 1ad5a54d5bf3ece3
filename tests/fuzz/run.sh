#!/bin/sh
# Runs every libFuzzer target: first its whole seed corpus (tests/fuzz/corpus/NAME), then
# new inputs for SECONDS in total shared between the targets. Findings (crashes, leaks,
# sanitizer reports) fail the run and are kept in tests/fuzz/artifacts/ to be added to the
# corpus once fixed. New interesting inputs go to a scratch directory, not the corpus.
#   tests/fuzz/run.sh FUZZ_BIN_DIR SECONDS
set -eu
bin=$1
total=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
# The fuzz build lets UBSan recover (print and go on): make its reports findings too.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
targets=$(ls "$bin" | grep '_fuzz$' || true)
[ -n "$targets" ] || { echo "no fuzz targets in $bin (build them: make fuzz)"; exit 1; }
n=$(echo "$targets" | wc -l)
each=$(( total / n )); [ "$each" -ge 1 ] || each=1
mkdir -p "$here/artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for t in $targets; do
  name=${t%_fuzz}
  corpus="$here/corpus/$name"
  mkdir -p "$scratch/$name"
  [ -d "$corpus" ] && cp -r "$corpus/." "$scratch/$name/" 2>/dev/null || true
  echo "== $t: seed corpus, then ${each}s"
  if ! "$bin/$t" -runs=0 "$scratch/$name" >"$scratch/$name.log" 2>&1 ||
     ! "$bin/$t" -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$here/artifacts/$t-" \
         "$scratch/$name" >>"$scratch/$name.log" 2>&1; then
    echo "!! $t found a problem:"; tail -40 "$scratch/$name.log"; status=1
  else
    grep -E "^#[0-9]+[[:space:]]+DONE" "$scratch/$name.log" | tail -1 || true
  fi
done
exit $status
