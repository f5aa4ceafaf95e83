#!/bin/bash
# The shards of deploy/slurm-array.sh as one report. Submit it with --dependency=afterany:JOBID (not afterok,
# which never starts once one task has failed or hit its time limit): merge refuses, in one line and exit 2,
# shards that are missing or unfinished, and names them; resubmit those tasks alone
# (sbatch --array=3,7 deploy/slurm-array.sh), then this job again.
#SBATCH --ntasks=1 --cpus-per-task=2 --time=04:00:00
set -euo pipefail
RESULTS=${SYNTHSIGHT_RESULTS:-/results}
exec synthsight merge "$RESULTS/verdicts.csv" "$RESULTS"/v.*.csv --quiet
