#!/usr/bin/env bash
# LoftQ, loftlab vs PyTorch, in one run: a Gaussian N x N matrix (std 0.02, numpy seed 0), nf2,
# rank 64, T = 5 steps; loftlab with the exact and the randomized SVD, PyTorch as PEFT/LoftQ do
# it (bench/torch_loftq.py: full torch.linalg.svd each step, argmin quantisation), 2 threads each.
# Targets: randomized >= 30x faster than PyTorch with a final residual within 0.5% of
# exact; exact >= 1.5x faster with the same final residual to 1e-4 (relative).
# `exact` is sgesvdx (top r triplets only); LOFTQ_GESDD=1 also times `exact-gesdd` (sgesdd, all
# vectors: the driver PyTorch uses) and LOFTQ_NUCLEAR=1 times `exact --nuclear` (plus every
# singular value of each residual), both reported beside the targets, not part of them.
# Debian's OpenBLAS 0.3.21 falls back to generic SSE3 kernels on CPUs newer than itself, and
# loftlab then asks for better ones (lib/runtime/blas_core.hpp). PyTorch links the same OpenBLAS,
# so when the two would run different kernels PyTorch runs twice: as installed ("torch") and on
# loftlab's kernels ("torch@CORE"); speedups and targets are against the faster of the two.
# Usage: LOFTLAB_BIN=build/loftlab bench/compare_loftq.sh [N]      (N defaults to 4096)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/openblas.sh
# Both sides get the same OpenMP waiting: what loftlab picks for itself (lib/runtime/process.hpp,
# GOMP_SPINCOUNT=2000) unless the caller chose OMP_WAIT_POLICY or GOMP_SPINCOUNT.
if [[ -z ${OMP_WAIT_POLICY:-} && -z ${GOMP_SPINCOUNT:-} ]]; then export GOMP_SPINCOUNT=2000; fi
wait_desc="OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-unset}"
bin=${LOFTLAB_BIN:-build/loftlab}
n=${1:-4096}
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$py -c "import numpy as np; np.save('$tmp/w.npy', (np.random.default_rng(0).standard_normal(($n, $n)) * 0.02).astype(np.float32))"
echo "compare_loftq: ${n}x${n} Gaussian (std 0.02), nf2, r=64, T=5, 2 threads, $wait_desc"
echo "loftlab: $("$bin" --version | tr '\n' ' ')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
common=(--npy "$tmp/w.npy" --method loftq --quant nf2 --rank 64 --steps 5 --threads 2)
"$bin" init-matrix "${common[@]}" --svd exact >"$tmp/exact.json"
"$bin" init-matrix "${common[@]}" --svd randomized:p=10:q=2 >"$tmp/randomized.json"
extra=()
if [[ ${LOFTQ_GESDD:-0} == 1 ]]; then
  "$bin" init-matrix "${common[@]}" --svd exact-gesdd >"$tmp/exact-gesdd.json"
  extra+=(exact-gesdd)
fi
if [[ ${LOFTQ_NUCLEAR:-0} == 1 ]]; then
  "$bin" init-matrix "${common[@]}" --svd exact --nuclear >"$tmp/exact+nuclear.json"
  extra+=(exact+nuclear)
fi
torch_run() {  # torch_run NAME [ENV=VALUE...]
  local name=$1
  shift
  env OMP_NUM_THREADS=2 "$@" $py bench/torch_loftq.py --npy "$tmp/w.npy" --bits 2 --rank 64 \
    --steps 5 --threads 2 >"$tmp/$name.json"
}
torch_run torch
torches=(torch)
core=$(extra_torch_core "$bin")
if [[ -n $core ]]; then
  torch_run "torch@$core" OPENBLAS_CORETYPE="$core"
  torches+=("torch@$core")
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
$py - "$tmp" "${#torches[@]}" "${torches[@]}" "${extra[@]}" <<'PY'
import json, sys
d, nt = sys.argv[1], int(sys.argv[2])
torches, extra = sys.argv[3:3 + nt], sys.argv[3 + nt:]
r = {k: json.load(open(f"{d}/{k}.json")) for k in ["exact", "randomized"] + torches + extra}
ref = min(torches, key=lambda k: r[k]["seconds"][-1])  # the faster PyTorch is the reference
t = r[ref]["seconds"][-1]
print(f"reference: {ref} ({t:.2f} s)")
print(f"{'impl':<16}{'seconds':>8}{'speedup':>10}{'final residual_fro':>22}{'rel. to torch':>15}{'rel. to exact':>15}")
for k in torches + ["exact", "randomized"] + extra:
    s, f = r[k]["seconds"][-1], r[k]["residual_fro"][-1]
    print(f"{k:<16}{s:>8.2f}{t / s:>9.1f}x{f:>22.6f}{f / r[ref]['residual_fro'][-1] - 1:>+15.2e}"
          f"{f / r['exact']['residual_fro'][-1] - 1:>+15.2e}")
print("trace exact     ", [round(x, 5) for x in r["exact"]["residual_fro"]])
print("trace randomized", [round(x, 5) for x in r["randomized"]["residual_fro"]])
print("trace torch     ", [round(x, 5) for x in r[ref]["residual_fro"]])
ex, rnd = r["exact"], r["randomized"]
ok_r = t / rnd["seconds"][-1] >= 30 and abs(rnd["residual_fro"][-1] / ex["residual_fro"][-1] - 1) <= 5e-3
ok_e = t / ex["seconds"][-1] >= 1.5 and abs(ex["residual_fro"][-1] / r[ref]["residual_fro"][-1] - 1) <= 1e-4
print(f"targets: randomized >= 30x and within 0.5% of exact: {'met' if ok_r else 'NOT met'}; "
      f"exact >= 1.5x and within 1e-4 of torch: {'met' if ok_e else 'NOT met'}")
PY
