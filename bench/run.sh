#!/usr/bin/env bash
# make bench: the kernel benchmarks (Google Benchmark), then every whole-run comparison script
# bench/compare_*.sh (each times loftlab against the PyTorch reference in one run), then the
# benchmarks without a reference (bench/data_aware.sh).
# Usage: bench/run.sh BUILD_DIR [benchmark filter regex]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
filter=${2:-.}
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$build/loftlab_bench" --benchmark_filter="$filter" --benchmark_counters_tabular=true
for s in bench/compare_*.sh; do
  [ -e "$s" ] || continue
  echo "== $s"
  LOFTLAB_BIN="$build/loftlab" LOFTLAB_BENCH="$build/loftlab_bench" bash "$s"
done
echo "== bench/data_aware.sh"
LOFTLAB_BIN="$build/loftlab" bash bench/data_aware.sh
