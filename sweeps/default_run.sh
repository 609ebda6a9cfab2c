#!/usr/bin/env bash
# make run: the default run, from a fresh machine to a results table in a few minutes on 2 cores.
#   1. pretrain a small byte-level Llama on the fortunes corpus (sweeps/default_pretrain.ini),
#      unless results/models/fortunes (or $LOFTLAB_MODELS/fortunes) already holds one;
#   2. the residual sweep on its weights (sweeps/default_residual.ini);
#   3. LoRA fine-tuning on the Jargon File from lora / qlora / loftq at nf2 and nf4
#      (sweeps/default_finetune.ini);
#   4. print both summary tables (loftlab inspect).
# Every sweep resumes: interrupt it and run again to continue where it stopped.
# Usage: sweeps/default_run.sh [path/to/loftlab]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/loftlab}
models=${LOFTLAB_MODELS:-results/models}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
start=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - start ))s] $*"; }

if [ -f "$models/fortunes/model.bin" ]; then
  step "1/4 using the pretrained model in $models/fortunes (delete it to pretrain again)"
else
  step "1/4 pretraining a byte-level Llama on fortunes -> $models/fortunes/model.bin"
fi
"$bin" sweep sweeps/default_pretrain.ini
step "2/4 residual sweep on pretrained:fortunes"
"$bin" sweep sweeps/default_residual.ini
step "3/4 fine-tuning sweep on jargon (lora, qlora, loftq; nf2, nf4; rank 8)"
"$bin" sweep sweeps/default_finetune.ini

step "4/4 results"
echo "-- pretraining (results/default_pretrain/results.h5)"
"$bin" inspect results/default_pretrain/results.h5
echo
echo "-- weight-space residuals (results/default_residual/results.h5)"
"$bin" inspect results/default_residual/results.h5 --sort mean_residual_rel
echo
echo "-- fine-tuning perplexities (results/default_finetune/results.h5); diverged = 1: no better than at init"
"$bin" inspect results/default_finetune/results.h5 --sort ppl_final
echo
echo "sample from the pretrained model:"
"$bin" generate --model pretrained:fortunes --steps 120 --prompt "The computer"
step "done"
