#!/usr/bin/env bash
# make fuzz / make fuzz-replay: every harness of tests/fuzz (one NAME.cpp each, built as
# BUILD/fuzz_NAME) over its seed corpus tests/fuzz/corpus/NAME/.
#   replay  runs each corpus file once through its harness; fails on the first crash (CI).
#   fuzz    fuzzes each harness in turn for FUZZ_SECONDS (default 600); new inputs go to
#           BUILD/fuzz-corpus/NAME/, crashes to BUILD/fuzz-crashes/NAME/, the log to
#           ${FUZZ_LOG_DIR:-BUILD}/fuzz-NAME.log. Fails when any harness found a crash.
# Usage: tests/fuzz/run.sh replay|fuzz BUILD_DIR [NAME ...]     (default: every harness)
set -euo pipefail
mode=${1:?usage: tests/fuzz/run.sh replay|fuzz BUILD_DIR [NAME ...]}
build=${2:?usage: tests/fuzz/run.sh replay|fuzz BUILD_DIR [NAME ...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
# Absolute: harnesses work in a scratch folder of their own (support.hpp).
build=$(cd "$build" && pwd)
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for src in "$here"/*.cpp; do names+=("$(basename "$src" .cpp)"); done
fi
export OMP_NUM_THREADS=1
# Harnesses that parse files write each input to a scratch folder under TMPDIR: in memory, where
# there is a tmpfs, so a campaign measures the parsers rather than the disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
failed=0
for name in "${names[@]}"; do
  bin=$build/fuzz_$name
  corpus=$here/corpus/$name
  [ -x "$bin" ] || { echo "fuzz: $bin is missing (make fuzz-build)"; exit 1; }
  mapfile -t seeds < <(find "$corpus" -type f 2>/dev/null | sort)
  # libFuzzer given no file fuzzes instead of replaying: a harness without seeds is an error.
  [ ${#seeds[@]} -gt 0 ] || { echo "fuzz: $corpus holds no seed (every harness needs some)"; exit 1; }
  case $mode in
    replay)
      if "$bin" "${seeds[@]}" > "$build/replay-$name.log" 2>&1; then
        echo "== $name: ${#seeds[@]} corpus files replayed clean"
      else
        echo "== $name: FAILED (log: $build/replay-$name.log)"; tail -40 "$build/replay-$name.log"
        failed=1
      fi ;;
    fuzz)
      log=${FUZZ_LOG_DIR:-$build}/fuzz-$name.log
      mkdir -p "$build/fuzz-corpus/$name" "$build/fuzz-crashes/$name"
      echo "== $name: fuzzing ${FUZZ_SECONDS:-600} s (log: $log)"
      if ! "$bin" -max_total_time="${FUZZ_SECONDS:-600}" -timeout=10 -rss_limit_mb=2048 \
          -print_final_stats=1 -artifact_prefix="$build/fuzz-crashes/$name/" \
          "$build/fuzz-corpus/$name" "$corpus" > "$log" 2>&1; then
        echo "   FOUND a crash: $(ls "$build/fuzz-crashes/$name")"; failed=1
      fi
      grep -E '^stat::number_of_executed_units' "$log" | sed 's/^/   /' || true ;;
    *) echo "fuzz: unknown mode $mode (replay or fuzz)"; exit 2 ;;
  esac
done
exit $failed
