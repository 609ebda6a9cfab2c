#!/bin/bash
# `loftlab init-model` as a Slurm job array over shards of the tensors, followed by an assemble
# job (an example: not run by the test suite; adjust partition, time and the loftlab path).
#
#   sweeps/slurm_init_model.sh SOURCE OUT [SHARDS] [-- init-model options...]
#   sweeps/slurm_init_model.sh hf:/models/Llama-2-7b-hf /scratch/llama2-7b-loftq 8 -- \
#       --method loftq --quant nf4 --rank 64 --steps 5 --svd randomized
#
# Each array task runs `loftlab init-model SOURCE --out OUT --shard I/N ...`: the targets whose
# index mod N is I, each written as one stage file in OUT's staging folder (.NAME.partial beside
# OUT, which every node must see). The assemble job starts once every task has ended and writes
# OUT; it fails, naming the missing tensors, if a task did not finish. Re-submitting resumes:
# finished tensors are not computed again.
set -euo pipefail
source=${1:?usage: slurm_init_model.sh SOURCE OUT [SHARDS] [-- options]}
out=${2:?usage: slurm_init_model.sh SOURCE OUT [SHARDS] [-- options]}
shards=${3:-8}
shift $(($# < 3 ? $# : 3))
[[ ${1:-} == -- ]] && shift
opts=$(printf ' %q' "$@")
loftlab=${LOFTLAB:-$PWD/build/loftlab}
threads=${THREADS:-4}
logs=$(dirname "$out")/$(basename "$out").slurm
mkdir -p "$logs"

array=$(sbatch --parsable --job-name=loftlab-init --array="0-$((shards - 1))" \
  --cpus-per-task="$threads" --time="${TIME:-02:00:00}" --output="$logs/shard-%a.log" \
  --export=ALL,OMP_NUM_THREADS="$threads" \
  --wrap="$loftlab init-model $source --out $out$opts --shard \${SLURM_ARRAY_TASK_ID}/$shards")
assemble=$(sbatch --parsable --job-name=loftlab-init-assemble --dependency="afterany:$array" \
  --time=01:00:00 --output="$logs/assemble.log" \
  --wrap="$loftlab init-model $source --out $out$opts --assemble")
echo "submitted array $array ($shards shards) and assemble job $assemble; the model appears in $out"
