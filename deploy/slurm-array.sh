#!/bin/bash
# synthsight on SLURM: one job array, one shard of the inventory per task; then deploy/slurm-merge.sh.
#
#   jobid=$(sbatch --parsable deploy/slurm-array.sh)
#   sbatch --dependency=afterany:"$jobid" deploy/slurm-merge.sh
#
# N, the number of shards, is fixed here and not taken from the array: resubmitting only the tasks that
# failed or ran out of time (sbatch --array=3,7 deploy/slurm-array.sh) must scan shards 3/16 and 7/16 again,
# and SLURM_ARRAY_TASK_COUNT would then be 2. A rerun task resumes its own report (--resume).
# --ntasks=1: sbatch refuses --gpus-per-task without --ntasks (or --gpus).
#SBATCH --array=0-15 --ntasks=1 --cpus-per-task=32 --gpus-per-task=1 --time=24:00:00
set -euo pipefail
N=${SYNTHSIGHT_SHARDS:-16}  # keep equal to the array's size: --array=0-(N-1)
LIST=${SYNTHSIGHT_LIST:-/archive/inventory.txt0}  # find /archive -type f -print0 > /archive/inventory.txt0
MODEL=${SYNTHSIGHT_MODEL:-/models/m.engine}
RESULTS=${SYNTHSIGHT_RESULTS:-/results}
exec synthsight scan --files-from "$LIST" --null --model "$MODEL" --shard "$SLURM_ARRAY_TASK_ID/$N" \
  --out "$RESULTS/v.$SLURM_ARRAY_TASK_ID.csv" --resume --quiet
