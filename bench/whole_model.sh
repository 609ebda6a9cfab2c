#!/usr/bin/env bash
# Whole-model timing on a Llama-2-7B-shaped Hugging Face folder (bench/make_llama7b.py):
#   1. the residual point loftq, nf4, r 64, T 5, randomized SVD, nuclear = ends, over every
#      linear weight (224 matrices for 32 layers);
#   2. `loftlab init-model` with the same settings, when this build has that command;
#   3. the PyTorch reference (bench/torch_loftq.py, nf4, r 64, T 5, full SVD each step) on one
#      4096x4096 and one 11008x4096 matrix of the folder, extrapolated to the model's matrices
#      (4 square and 3 FFN-shaped per layer).
# Each run reports wall time, user+sys CPU time and peak RSS (/usr/bin/time -v), and parameters
# per second; the load average before and after says whether the figures were taken under load.
#
# Usage: LOFTLAB_BIN=build/loftlab bench/whole_model.sh [MODEL_DIR] [WORK_DIR]
#   MODEL_DIR  defaults to /tmp/llama7b; make it once with
#              nice -n 19 /usr/bin/python3 bench/make_llama7b.py /tmp/llama7b   (13.5 GB of disk)
#   WORK_DIR   defaults to a fresh temporary folder (the sweep's store, the exported model:
#              another 13.5 GB for init-model)
# SKIP_RESIDUAL=1, SKIP_INIT_MODEL=1 and SKIP_TORCH=1 skip a part; NUCLEAR=none|ends|every
# sets the residual point's nuclear norms (default ends).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${LOFTLAB_BIN:-build/loftlab}")
model=$(realpath "${1:-/tmp/llama7b}")
work=${2:-$(mktemp -d)}
py=/usr/bin/python3
mkdir -p "$work"
[[ -f $model/config.json ]] || { echo "whole_model: $model has no config.json (run bench/make_llama7b.py first)" >&2; exit 1; }
layers=$($py -c "import json; print(json.load(open('$model/config.json'))['num_hidden_layers'])")
matrices=$((7 * layers))
params=$((layers * (4 * 4096 * 4096 + 3 * 11008 * 4096)))
echo "whole_model: $model, $layers layers, $matrices matrices, $params parameters in them"
echo "loftlab: $("$bin" --version | tr '\n' ' ')"

# timed NAME CMD...: runs CMD under /usr/bin/time -v and prints one line of figures.
timed() {
  local name=$1
  shift
  local load0 log="$work/$name.time"
  load0=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -v "$@" >"$work/$name.out" 2>"$log"
  $py - "$log" "$name" "$params" "$load0" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
get = lambda k: re.search(re.escape(k) + r": (.*)", text).group(1).strip()
wall = get("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
cpu = float(get("User time (seconds)")) + float(get("System time (seconds)"))
rss = int(get("Maximum resident set size (kbytes)")) / 1e6
name, params, l0, l1 = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"{name}: wall {wall:.1f} s, cpu (user+sys) {cpu:.1f} s, peak RSS {rss:.2f} GB, "
      f"{params / max(wall, 1e-9) / 1e6:.2f} M params/s, load {l0} -> {l1}")
EOF
}

cat >"$work/residual.ini" <<EOF
name       = whole_model_residual
experiment = residual
source     = hf:$model
layers     = all-linear
method     = loftq
quant      = nf4
rank       = 64
steps      = 5
svd        = randomized
nuclear    = ${NUCLEAR:-ends}
EOF
if [[ ${SKIP_RESIDUAL:-0} != 1 ]]; then
  rm -rf "$work/results" "$work/residual.time"
  timed residual sh -c "cd '$work' && '$bin' sweep residual.ini --out results"
  "$bin" inspect "$work/results/results.h5" --columns err_reduction_fro,err_reduction_nuclear,seconds || true
else
  echo "residual: skipped (SKIP_RESIDUAL=1)"
fi

if [[ ${SKIP_INIT_MODEL:-0} != 1 ]] && "$bin" init-model --help >/dev/null 2>&1; then
  rm -rf "$work/init_model" "$work/init_model.time"
  timed init_model "$bin" init-model "hf:$model" --out "$work/init_model" --method loftq \
    --quant nf4 --rank 64 --steps 5 --svd randomized --jobs 2
  rm -rf "$work/init_model"
else
  echo "init_model: skipped (no init-model command in this build, or SKIP_INIT_MODEL=1)"
fi

if [[ ${SKIP_TORCH:-0} != 1 ]]; then
  # One matrix of each shape, read from the folder as float32 .npy files.
  $py - "$model" "$work" <<'EOF'
import json, struct, sys, numpy as np
model, work = sys.argv[1], sys.argv[2]
index = json.load(open(f"{model}/model.safetensors.index.json"))["weight_map"]
for name, out in [("model.layers.0.self_attn.q_proj.weight", "square"),
                  ("model.layers.0.mlp.up_proj.weight", "ffn")]:
    with open(f"{model}/{index[name]}", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))[name]
        a, b = h["data_offsets"]
        f.seek(8 + n + a)
        bits = np.frombuffer(f.read(b - a), np.uint16).astype(np.uint32) << 16
    np.save(f"{work}/{out}.npy", bits.view(np.float32).reshape(h["shape"]))
EOF
  for shape in square ffn; do
    timed "torch_$shape" $py bench/torch_loftq.py --npy "$work/$shape.npy" --bits 4 --rank 64 \
      --steps 5 --threads 2
  done
  $py - "$work" "$layers" <<'EOF'
import json, os, re, sys
work, layers = sys.argv[1], int(sys.argv[2])
def wall(name):
    if not os.path.exists(f"{work}/{name}.time"):
        return None
    t = open(f"{work}/{name}.time").read()
    w = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.*)", t).group(1).split(":")
    return sum(float(x) * 60 ** i for i, x in enumerate(reversed(w)))
sq, ffn = wall("torch_square"), wall("torch_ffn")
torch_model = layers * (4 * sq + 3 * ffn)
print(f"torch: 4096x4096 {sq:.1f} s, 11008x4096 {ffn:.1f} s -> {torch_model:.0f} s for the model "
      f"({layers} x (4 + 3) matrices)")
for name, what in [("residual", "residual point"), ("init_model", "init-model")]:
    ours = wall(name)
    if ours is not None:
        print(f"ratio torch / loftlab {what}: {torch_model / ours:.1f}x")
EOF
fi
echo "whole_model: outputs in $work"
