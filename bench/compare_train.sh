#!/usr/bin/env bash
# LoRA fine-tuning throughput, loftlab against PyTorch, in one run, at two shapes: stories260K
# (the real llama2.c checkpoint) and a random-weight llama2.c model of the stories15M shape (dim
# 288, 6 layers, 6 heads, FFN 768, vocab 512; bench/random_llama2c.py); rank-8 adapters on q, k, v, o, gate, up, down, batch 16 x 256 tokens, one step =
# forward + cross-entropy + backward + clipping + AdamW. loftlab is timed by its own finetune
# experiment (tokens_per_s counts the training steps only, not evaluation); PyTorch by
# bench/torch_train.py (2 threads, /usr/bin/python3, Debian's python3-torch), also on loftlab's
# OpenBLAS kernels when they differ (bench/openblas.sh); the ratio is against the faster.
# Usage: LOFTLAB_BIN=build/loftlab bench/compare_train.sh [steps [steps_15m]]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/openblas.sh
bin=${LOFTLAB_BIN:-build/loftlab}
steps=${1:-10}
steps15=${2:-10}
data=${LOFTLAB_DATA:-../shared/data}
ckpt="$data/stories260K.bin"
[ -f "$ckpt" ] || { echo "compare_train: $ckpt not found (set LOFTLAB_DATA); skipped"; exit 0; }
ckpt=$(realpath "$ckpt")
tok=$(realpath "$data/tok512.bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# compare MODEL LABEL STEPS TARGET: loftlab (2 and 1 threads) and PyTorch on one checkpoint.
compare() {
  local model=$1 label=$2 n=$3 target=$4 out="$work/$2"
  mkdir -p "$out"
  echo "== $label: $model"
  cat > "$out/bench.ini" <<INI
name        = bench_train
experiment  = finetune
model       = llama2c:$model
tokenizer   = llama2c:$tok
corpus      = jargon
train_steps = $n
batch       = 16
seq_len     = 256
lora_alpha  = 16
eval_tokens = 256
eval_every  = $n
[grid]
method = lora
rank   = 8
INI
  for threads in 2 1; do
    OMP_NUM_THREADS=$threads "$bin" sweep "$out/bench.ini" --out "$out/r$threads" >/dev/null
    /usr/bin/python3 - "$out/r$threads" "$threads" <<'PY'
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
    env "$@" /usr/bin/python3 bench/torch_train.py "$model" --batch 16 --seq 256 --rank 8 --steps 3 \
      --warmup 1 --threads 2 | tee "$out"
  }
  torch_train "$out/torch.txt"
  core=$(extra_torch_core "$bin")
  if [[ -n $core ]]; then
    echo "torch with OPENBLAS_CORETYPE=$core:"
    torch_train "$out/torch_core.txt" OPENBLAS_CORETYPE="$core"
  fi
  /usr/bin/python3 - "$out" "$label" "$target" <<'PY'
import os, re, sys
w = sys.argv[1]
ours = float(open(w + "/r2/tps").read())
rate = lambda f: float(re.search(r"([0-9.]+) tokens/s", open(f).read()).group(1))
torch = max(rate(w + f) for f in ["/torch.txt", "/torch_core.txt"] if os.path.exists(w + f))
print(f"{sys.argv[2]}: loftlab / faster torch (2 threads each): {ours / torch:.1f}x "
      f"(target >= {sys.argv[3]}x)")
PY
}

big="$work/stories15M_shape.bin"
/usr/bin/python3 bench/random_llama2c.py "$big" --dim 288 --layers 6 --heads 6 --hidden 768 \
  --vocab 512 --seq-len 256
echo "load before: $(uptime)"
compare "$ckpt" stories260K "$steps" 2
compare "$big" stories15M-shape "$steps15" 1.5
echo "load after: $(uptime)"
