#!/bin/bash
# A sweep as a Slurm job array over shards, followed by a merge job (an example: not run by the
# test suite; adjust partition, time and the loftlab path for your cluster).
#
#   sweeps/slurm_array.sh sweeps/stories260k_residual.ini [SHARDS]
#
# Each array task runs `loftlab sweep CONFIG --shard I/N`: the points whose index (in the
# id-sorted list) mod N is I. Tasks write only their own points/<id>.h5 files (each written to a
# temporary name and renamed), lock only their own shard, and do not merge; the merge job, which
# starts once every task has ended (afterany: failed points are stored and merged too), rebuilds
# results/<name>/results.h5. Re-submitting the same command resumes: complete points are skipped.
# The results folder must be on a file system every node sees.
set -euo pipefail
config=${1:?usage: slurm_array.sh CONFIG [SHARDS]}
shards=${2:-8}
loftlab=${LOFTLAB:-$PWD/build/loftlab}
threads=${THREADS:-4}
name=$("$loftlab" sweep "$config" --dry-run | sed -n "1s/^sweep '\([^']*\)'.*/\1/p")
out=${OUT:-results/$name}
mkdir -p "$out/slurm"

array=$(sbatch --parsable --job-name="loftlab-$name" --array="0-$((shards - 1))" \
  --cpus-per-task="$threads" --time="${TIME:-01:00:00}" --output="$out/slurm/shard-%a.log" \
  --export=ALL,OMP_NUM_THREADS="$threads" \
  --wrap="$loftlab sweep $config --out $out --shard \${SLURM_ARRAY_TASK_ID}/$shards")
merge=$(sbatch --parsable --job-name="loftlab-$name-merge" --dependency="afterany:$array" \
  --time=00:10:00 --output="$out/slurm/merge.log" --wrap="$loftlab merge $out")
echo "submitted array $array ($shards shards) and merge job $merge; results in $out/results.h5"
