#!/usr/bin/env bash
# The paper reproductions (REPRODUCING.md): run each sweeps/repro_*.ini, then write its report.
#
#   ./sweeps/reproduce.sh build/loftlab full     # make reproduce: every reproduction in full
#   ./sweeps/reproduce.sh build/loftlab quick    # make reproduce-quick: a ~10-minute subset
#   ./sweeps/reproduce.sh build/loftlab full repro_loftq_glue repro_loftq_glue_fortunes
#                                                # only the reproductions named
#
# Results go to results/<name>/ (quick: results/<name>_quick/, so the two never mix), reports to
# results/<name>[_quick]/report/report.md. A re-run resumes: complete points are skipped. A
# reproduction whose experiment this build cannot run yet (its dry run fails) is reported as
# skipped with the reason, and the script then exits 1. JOBS (default 2) points run at once.
set -uo pipefail

usage() { echo "usage: $0 LOFTLAB full|quick [NAME...]   (e.g. $0 build/loftlab quick)" >&2; exit 2; }
[ $# -ge 2 ] || usage
case "$2" in full|quick) mode=$2 ;; *) usage ;; esac
loftlab=$(realpath "$1" 2>/dev/null) || { echo "reproduce: no loftlab at '$1' (run make first)" >&2; exit 2; }
[ -x "$loftlab" ] || { echo "reproduce: '$1' is not an executable loftlab (run make first)" >&2; exit 2; }
shift 2
only=("$@")   # names of the reproductions to run; none: all
cd "$(dirname "$0")/.." || exit 2   # configs name ../shared/data relative to the repository root
py=/usr/bin/python3
jobs=${JOBS:-2}
# The budget sweeps share their cost tables (per tensor, candidate and method) through this cache.
export LOFTLAB_COST_CACHE=${LOFTLAB_COST_CACHE:-results/alloc_costs}

if [ ! -f ../shared/data/stories260K.bin ] || [ ! -d ../shared/data/stories260K-hf ]; then
  echo "reproduce: ../shared/data/stories260K{.bin,-hf} not found: every reproduction runs on the" >&2
  echo "real stories260K weights (../shared/data/README.md says where they come from)." >&2
  exit 1
fi

# name | extra sweep options in quick mode (full mode runs the config as written)
#      [| config, when another than sweeps/NAME.ini | sweep options of both modes]
repros=(
  "repro_loftq_discrepancy|--set grid.rank=8"
  "repro_pissa_error_reduction|"
  "repro_loftq_table5|--set train_steps=60 --set seq_len=64 --set eval_tokens=2048 --set grid.seed=0"
  "repro_t_ablation|--set train_steps=60 --set seq_len=64 --set eval_tokens=2048 --set grid.seed=0 --set grid.steps=0,1,5"
  "repro_loftq_glue|--set train_steps=100 --set warmup=10 --set eval_every=25 --set grid.seed=0"
  "repro_loftq_glue_fortunes|--set train_steps=100 --set warmup=10 --set eval_every=25 --set grid.seed=0|repro_loftq_glue|--set model=pretrained:fortunes --set tokenizer=auto --set seq_len=64 --set grid.task=kjv:testament"
  "repro_budget|--set grid.method=qlora --set grid.quant=budget:2.5,budget:3.0,budget:3.5,nf2,nf3,nf4"
  "repro_budget_finetune|--set train_steps=40 --set seq_len=64 --set eval_tokens=2048 --set grid.method=qlora --set grid.quant=budget:2.5,budget:3.5,nf2,nf4"
  "repro_data_aware|--set grid.quant=nf2 --set grid.rank=8 --set grid.steps=1 --set grid.scale=exact --set calib_tokens=4096"
  "repro_data_aware_finetune|--set train_steps=40 --set seq_len=64 --set eval_tokens=2048 --set grid.quant=nf2 --set grid.steps=1 --set grid.scale=exact --set calib_tokens=4096"
)

names=()
for row in "${repros[@]}"; do names+=("${row%%|*}"); done
for n in "${only[@]}"; do
  [[ " ${names[*]} " == *" $n "* ]] || { echo "reproduce: no reproduction '$n' (there are: ${names[*]})" >&2; exit 2; }
done
selected() { [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $1 "* ]]; }

status=0
summary=()

# repro_loftq_glue_fortunes fine-tunes the byte-level model that the default run pretrains
# (pretrained:fortunes); on a fresh machine it is pretrained here first, about two minutes.
models=${LOFTLAB_MODELS:-results/models}
if selected repro_loftq_glue_fortunes && [ ! -f "$models/fortunes/model.bin" ]; then
  echo "== pretraining pretrained:fortunes (sweeps/default_pretrain.ini) -> $models/fortunes/"
  if ! "$loftlab" sweep sweeps/default_pretrain.ini --jobs 1; then
    summary+=("pretrained:fortunes: pretraining FAILED (repro_loftq_glue_fortunes will be skipped)")
    status=1
  fi
fi
for row in "${repros[@]}"; do
  IFS='|' read -r name quick_opts config_name both_opts <<<"$row"
  selected "$name" || continue
  config=sweeps/${config_name:-$name}.ini
  # shellcheck disable=SC2206  # the options are words by design
  opts=(--set "name=$name" $both_opts)
  out=$name
  if [ "$mode" = quick ]; then
    out=${name}_quick
    # shellcheck disable=SC2206
    opts=(--set "name=$out" $both_opts $quick_opts)
  fi
  echo "== $name ($mode): $config -> results/$out/"
  if ! dry=$("$loftlab" sweep "$config" "${opts[@]}" --dry-run 2>&1); then
    echo "   skipped: this build cannot run it yet:"
    echo "$dry" | tail -n 3 | sed 's/^/     /'
    summary+=("$name: SKIPPED ($(echo "$dry" | tail -n 1 | cut -c1-150))")
    status=1
    continue
  fi
  echo "$dry" | grep -m1 ' points;' | sed 's/^/   /'   # "N grid combinations -> M points; ..."
  start=$(date +%s)
  if ! "$loftlab" sweep "$config" "${opts[@]}" --jobs "$jobs"; then
    summary+=("$name: FAILED (loftlab sweep exited non-zero; re-run to resume)")
    status=1
    continue
  fi
  secs=$(( $(date +%s) - start ))
  if ! "$py" analysis/report.py "results/$out" --out "results/$out/report"; then
    summary+=("$name: sweep done in ${secs}s, report FAILED")
    status=1
    continue
  fi
  summary+=("$name: done in ${secs}s -> results/$out/report/report.md")
done

# The budget figures (residual and perplexity against bits, the allocation's heat map) need both
# budget sweeps.
suffix=$([ "$mode" = quick ] && echo _quick)
budget=results/repro_budget$suffix finetune=results/repro_budget_finetune$suffix
if [ -f "$budget/results.h5" ] && [ -f "$finetune/results.h5" ]; then
  if "$py" -m analysis.budget "$budget" "$finetune" --out "$budget/report/budget" > /dev/null; then
    summary+=("budget figures -> $budget/report/budget/budget.md")
  else
    summary+=("budget figures: FAILED (analysis.budget)")
    status=1
  fi
fi

echo
echo "== reproductions ($mode)"
printf '   %s\n' "${summary[@]}"
exit $status
