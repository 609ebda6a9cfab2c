#!/usr/bin/env bash
# The data-aware methods' own costs: `loftlab calibrate` throughput (tokens/s) on stories260K
# (H only, then with the Fisher) and on one random-weight block of the Llama-2-7B shape (dim
# 4096, 32 heads, FFN 11008; bench/random_llama2c.py), then `qera` on that block's q_proj
# (4096x4096, nf4, rank 16) with the exact scale (a Cholesky of the 4096x4096 H) and the diagonal
# one, beside loftq T = 1 on the same matrix, 2 threads each. There is no PyTorch reference for
# these (PEFT has no QERA); bench/README.md records the figures.
# Usage: LOFTLAB_BIN=build/loftlab bench/data_aware.sh [tokens_7b]      (default 8192)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LOFTLAB_BIN:-build/loftlab}
tokens7b=${1:-8192}
data=${LOFTLAB_DATA:-../shared/data}
py=/usr/bin/python3
[ -f "$data/stories260K.bin" ] || { echo "data_aware: $data/stories260K.bin not found (set LOFTLAB_DATA); skipped"; exit 0; }
tok=$(realpath "$data/tok512.bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

calibrate() {  # calibrate LABEL MODEL TOKENS SEQ [--fisher]
  local label=$1 model=$2 n=$3 seq=$4
  shift 4
  rm -f "$work/c.h5"
  echo "$label: $("$bin" calibrate "$model" --tokenizer "llama2c:$tok" --corpus fortunes \
    --tokens "$n" --seq-len "$seq" --out "$work/c.h5" "$@" 2>/dev/null)"
}
calibrate "stories260K, H" "llama2c:$(realpath "$data/stories260K.bin")" 16384 128
calibrate "stories260K, H + Fisher" "llama2c:$(realpath "$data/stories260K.bin")" 16384 128 --fisher

$py bench/random_llama2c.py "$work/block.bin" --dim 4096 --layers 1 --heads 32 --hidden 11008 \
  --vocab 512 --seq-len 256
calibrate "one 7B-shaped block, H" "llama2c:$work/block.bin" "$tokens7b" 256

# Layer 0's q_proj out of the checkpoint (llama2.c layout: 7 int32, embeddings, rms_att, wq...).
$py - "$work/block.bin" "$work/q.npy" <<'PY'
import sys
import numpy as np
raw = np.memmap(sys.argv[1], dtype=np.uint8, mode="r")
dim, _, _, _, _, vocab, _ = raw[:28].view("<i4")
f = raw[28:].view("<f4")
at = abs(vocab) * dim + dim
np.save(sys.argv[2], np.array(f[at:at + dim * dim]).reshape(dim, dim))
PY
q=model.layers.0.self_attn.q_proj.weight
for run in "qera --scale exact" "qera --scale diag" "loftq --steps 1"; do
  # shellcheck disable=SC2086  # method and its options are words
  set -- $run
  extra=()
  [ "$1" = qera ] && extra=(--calib "$work/c.h5" --calib-layer "$q")
  "$bin" init-matrix --npy "$work/q.npy" --method "$@" --quant nf4 --rank 16 --threads 2 \
    --nuclear none "${extra[@]}" |
    $py -c "import json, sys; r = json.load(sys.stdin); print(f\"$run, 4096x4096 nf4 r16: {r['wall_seconds']:.2f} s, residual_fro {r['residual_fro'][-1]:.5f}\" + (f\", output error vs qlora {r['residual_act_vs_qlora'][-1]:.4f}\" if r.get('residual_act_vs_qlora') and r['residual_act_vs_qlora'][-1] is not None else ''))"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
