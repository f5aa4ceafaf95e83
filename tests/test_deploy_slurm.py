"""deploy/slurm-array.sh and deploy/slurm-merge.sh run as written, through a fake ``sbatch`` that runs a job
array's tasks one after the other on this machine: the shards merge into the plain scan's records, a task
rerun alone keeps its shard's N, and the merge names the shard still missing.

The fake checks what sbatch itself refuses in these scripts' options (``--gpus-per-task`` without ``--ntasks``
or ``--gpus``: "--gpus-per-task or --tres-per-task used without either --gpus or -n/--ntasks is not allowed")
and sets what a task sees of the array (SLURM_ARRAY_TASK_ID, _COUNT, _MIN, _MAX), as sbatch documents them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from scanner_support import make_tree, records_by_path

from synthsight.reports.writers import read_records
from synthsight.scanner import scan

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


def sbatch_options(script: Path, given: list[str]) -> dict[str, str]:
    """The script's ``#SBATCH`` options (read up to its first command, as sbatch does), the command line's winning."""
    words: list[str] = []
    for line in script.read_text().splitlines()[1:]:
        if line.startswith("#SBATCH"):
            words += shlex.split(line[len("#SBATCH") :])
        elif line.strip() and not line.startswith("#"):
            break
    opts = {}
    for word in [*words, *given]:
        key, _, value = word.partition("=")
        opts[key] = value
    if "--gpus-per-task" in opts and not ({"--ntasks", "-n", "--gpus"} & set(opts)):
        raise AssertionError("sbatch: --gpus-per-task or --tres-per-task used without either --gpus or -n/--ntasks")
    return opts


def array_ids(spec: str) -> list[int]:
    ids: list[int] = []
    for part in spec.split("%")[0].split(","):
        first, _, last = part.partition("-")
        ids += range(int(first), int(last or first) + 1)
    return ids


def fake_sbatch(script: Path, env: dict[str, str], *given: str) -> list[int]:
    """Run ``sbatch [given] script`` here: each array task in turn; returns their exit codes."""
    opts = sbatch_options(script, list(given))
    ids = array_ids(opts["--array"]) if "--array" in opts else [None]
    codes = []
    for task in ids:
        array = {}
        if task is not None:
            array = {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": str(len(ids)),
                     "SLURM_ARRAY_TASK_MIN": str(min(ids)), "SLURM_ARRAY_TASK_MAX": str(max(ids))}  # fmt: skip
        done = subprocess.run(["bash", str(script)], env={**env, **array}, capture_output=True, text=True)
        codes.append(done.returncode)
        env["LAST_STDERR"] = done.stderr
    return codes


@pytest.fixture()
def slurm_env(tmp_path: Path) -> dict[str, str]:
    """PATH with a ``synthsight`` that runs this checkout (as an installed entry point would)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "synthsight"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m synthsight "$@"\n')
    shim.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}


def test_the_slurm_array_and_merge_scripts_run_as_written_and_a_rerun_task_keeps_its_shard(
    slurm_env, tiny_onnx, tmp_path
):
    tree = tmp_path / "archive"
    make_tree(tree, n_images=12)
    listing = tmp_path / "inventory.txt0"
    listing.write_bytes(b"".join(os.fsencode(p) + b"\0" for p in sorted(tree.rglob("*")) if p.is_file()))
    results = tmp_path / "results"
    results.mkdir()
    env = {**slurm_env, "SYNTHSIGHT_SHARDS": "3", "SYNTHSIGHT_LIST": str(listing),
           "SYNTHSIGHT_MODEL": str(tiny_onnx["onnx"]), "SYNTHSIGHT_RESULTS": str(results)}  # fmt: skip
    array, merge = DEPLOY / "slurm-array.sh", DEPLOY / "slurm-merge.sh"
    assert sbatch_options(array, [])["--array"] == "0-15", "the script as shipped: 16 shards"

    assert fake_sbatch(array, env, "--array=0,2") == [0, 0]  # task 1 "failed": it never ran
    assert fake_sbatch(merge, env) == [2]
    assert "merge: missing 1 of 3 shards: 1/3" in env["LAST_STDERR"]
    assert fake_sbatch(array, env, "--array=1") == [0], env["LAST_STDERR"]  # alone: still shard 1 of 3
    assert fake_sbatch(merge, env) == [0], env["LAST_STDERR"]

    reference = tmp_path / "plain.csv"
    scan([], str(tiny_onnx["onnx"]), [reference], files_from=str(listing), null=True, workers=0, quiet=True)
    got, want = (records_by_path(read_records(p)[0]) for p in (results / "verdicts.csv", reference))
    assert set(got) == set(want) and len(got) == len(read_records(reference)[0])
    assert all((got[p].verdict, got[p].sha256) == (w.verdict, w.sha256) for p, w in want.items())


def test_the_fake_sbatch_refuses_what_sbatch_refuses(tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#SBATCH --array=0-3 --gpus-per-task=1\necho hi\n")
    with pytest.raises(AssertionError, match="--gpus-per-task"):
        sbatch_options(script, [])
    assert sbatch_options(script, ["--ntasks=1"])["--array"] == "0-3"
