#!/usr/bin/env bash
# LoRA fine-tuning throughput, loftlab against PyTorch, in one run: stories260K (llama2.c
# checkpoint), rank-8 adapters on q, k, v, o, gate, up, down, batch 16 x 256 tokens, one step =
# forward + cross-entropy + backward + clipping + AdamW. loftlab is timed by its own finetune
# experiment (tokens_per_s counts the training steps only, not evaluation); PyTorch by
# bench/torch_train.py (2 threads, /usr/bin/python3, Debian's python3-torch), also on loftlab's
# OpenBLAS kernels when they differ (bench/openblas.sh); the ratio is against the faster.
# Usage: LOFTLAB_BIN=build/loftlab bench/compare_train.sh [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/openblas.sh
bin=${LOFTLAB_BIN:-build/loftlab}
steps=${1:-10}
data=${LOFTLAB_DATA:-../shared/data}
ckpt="$data/stories260K.bin"
[ -f "$ckpt" ] || { echo "compare_train: $ckpt not found (set LOFTLAB_DATA); skipped"; exit 0; }
ckpt=$(realpath "$ckpt")
tok=$(realpath "$data/tok512.bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/bench.ini" <<INI
name        = bench_train
experiment  = finetune
model       = llama2c:$ckpt
tokenizer   = llama2c:$tok
corpus      = jargon
train_steps = $steps
batch       = 16
seq_len     = 256
lora_alpha  = 16
eval_tokens = 256
eval_every  = $steps
[grid]
method = lora
rank   = 8
INI
echo "load before: $(uptime)"
for threads in 2 1; do
  OMP_NUM_THREADS=$threads "$bin" sweep "$work/bench.ini" --out "$work/r$threads" >/dev/null
  /usr/bin/python3 - "$work/r$threads" "$threads" <<'PY'
import glob, sys, h5py
f = glob.glob(sys.argv[1] + "/points/*.h5")[0]
with h5py.File(f) as h:
    pid = list(h["points"])[0]
    tps = float(h[f"points/{pid}/metrics/tokens_per_s"][()])
print(f"loftlab threads {sys.argv[2]}: {tps:.0f} tokens/s")
open(sys.argv[1] + "/tps", "w").write(str(tps))
PY
done
torch_train() {  # torch_train OUT [ENV=VALUE...]
  local out=$1
  shift
  env "$@" /usr/bin/python3 bench/torch_train.py "$ckpt" --batch 16 --seq 256 --rank 8 --steps 3 \
    --warmup 1 --threads 2 | tee "$out"
}
torch_train "$work/torch.txt"
core=$(extra_torch_core "$bin")
if [[ -n $core ]]; then
  echo "torch with OPENBLAS_CORETYPE=$core:"
  torch_train "$work/torch_core.txt" OPENBLAS_CORETYPE="$core"
fi
echo "load after: $(uptime)"
/usr/bin/python3 - "$work" <<'PY'
import os, re, sys
w = sys.argv[1]
ours = float(open(w + "/r2/tps").read())
rate = lambda f: float(re.search(r"([0-9.]+) tokens/s", open(f).read()).group(1))
torch = max(rate(w + f) for f in ["/torch.txt", "/torch_core.txt"] if os.path.exists(w + f))
print(f"loftlab / faster torch (2 threads each): {ours / torch:.1f}x (target >= 2x)")
PY
