#!/usr/bin/env bash
# make test-kernels: every Catch2 test binary under each OpenBLAS kernel set this CPU can run, so
# results that depend on the kernels (tolerances, thread determinism) are seen before a user with
# another CPU sees them. Not part of make test: CI keeps whatever OPENBLAS_CORETYPE its machine
# sets. A kernel set the CPU lacks is skipped (OpenBLAS would stop on an illegal instruction).
# Usage: tests/kernels.sh BUILD_DIR [CORE ...]     (default cores: Prescott SandyBridge Haswell SkylakeX)
set -euo pipefail
build=${1:?usage: tests/kernels.sh BUILD_DIR [CORE ...]}
shift
cores=("$@")
[ ${#cores[@]} -gt 0 ] || cores=(Prescott SandyBridge Haswell SkylakeX)
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
runnable() {
  case $1 in
    Prescott) has pni ;;  # SSE3
    SandyBridge) has avx ;;
    Haswell) has avx2 fma ;;
    SkylakeX) has avx512f avx512bw avx512dq avx512vl avx512cd ;;
    *) return 0 ;;
  esac
}
failed=0
for core in "${cores[@]}"; do
  if ! runnable "$core"; then
    echo "== $core: skipped, this CPU lacks its instructions"
    continue
  fi
  for bin in "$build"/loftlab_test_*; do
    [[ -x $bin && ! -d $bin ]] || continue
    if out=$(OPENBLAS_CORETYPE=$core "$bin" 2>&1); then
      echo "== $core $(basename "$bin"): $(grep -E "All tests passed|test cases" <<<"$out" | tail -1)"
    else
      echo "== $core $(basename "$bin"): FAILED"
      echo "$out" | tail -30
      failed=1
    fi
  done
done
exit $failed
