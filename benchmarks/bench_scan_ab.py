"""The scan against its shared-core bound, this checkout against another one, in alternating rounds.

    python benchmarks/bench_scan_ab.py --before DIR [--rounds R] [--images N] [--json FILE]

DIR is another checkout of synthsight (say main before a change: ``git worktree add /tmp/old <commit>``, or a
copy of this one with ``scanner/overlap.DEPTH = 1``: one batch at a time, everything else the same).
Each round measures, for each checkout in turn (the order alternates between rounds), bench_scan.py's
decode-only, inference-only and whole-scan rows, each in a fresh child process whose ``sys.path`` puts that
checkout first; the fraction of the shared-core bound 1 / (1/decode + 1/inference) is computed within the
round, so load that changes between rounds moves both sides of a fraction. The load average is printed with
every round: on a machine other jobs share, only rounds of similar load compare.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scan  # noqa: E402
from common import REPO, emit, log, machine, mixed_corpus, parser, table  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def one_round(tree: str, files: list[str], onnx: str, out: str) -> dict:
    sys.path.insert(0, tree)  # the child's sys.path is this process's (multiprocessing's spawn)
    try:
        decode = bench_scan.measure("decode_only", files=files, workers=None)
        infer = bench_scan.measure("inference_only", onnx=onnx, images=len(files))
        scan = bench_scan.measure("synthsight_scan", files=files, onnx=onnx, out=out, workers=None)
    finally:
        sys.path.remove(tree)
    for row in (decode, infer, scan):
        if "error" in row:
            raise RuntimeError(f"{tree}: {row['error']}")
    d, i, s = decode["images_per_s"], infer["images_per_s"], scan["images_per_s"]
    return {
        "decode": d,
        "inference": i,
        "scan": s,
        "fraction": s * (1 / d + 1 / i),
        "opening_s": scan["seconds"] - scan["session_seconds"],
        "load": load(),
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, required=True, help="the other checkout")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 6; 2 with --quick)")
    p.add_argument("--images", type=int, default=None, help="corpus size (default 48; 4 with --quick)")
    args = p.parse_args()
    rounds, n = args.rounds or (2 if args.quick else 6), args.images or (4 if args.quick else 48)
    trees = {"before": str(args.before.resolve()), "after": str(REPO)}
    files = [str(f) for f in mixed_corpus(args.cache, n)]
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="bench-scan-ab-") as tmp:
        onnx = str(bench_scan.export_model(Path(tmp)))
        for r in range(rounds):
            order = list(trees.items()) if r % 2 == 0 else list(reversed(trees.items()))
            for name, tree in order:
                result = one_round(tree, files, onnx, f"{tmp}/{name}.csv")
                runs[name].append(result)
                log(f"  [{r + 1}/{rounds}] {name}: {result['fraction']:.2f} of the shared bound, load {result['load']}")
    rows = []
    for r in range(rounds):
        b, a = runs["before"][r], runs["after"][r]
        rows.append([r + 1, b["load"], f"{b['fraction']:.2f}", f"{b['opening_s']:.2f}", a["load"],
                     f"{a['fraction']:.2f}", f"{a['opening_s']:.2f}"])  # fmt: skip
    med = {k: statistics.median(x["fraction"] for x in v) for k, v in runs.items()}
    parts = [
        f"{n} images (bench_scan.py's corpus and model), {rounds} alternating rounds; before = {trees['before']}, "
        f"after = {trees['after']}.",
        "",
        table(["round", "load before", "before", "opening s", "load after", "after", "opening s"], rows),
        "",
        f"- Median fraction of the shared-core bound: before **{med['before']:.2f}**, after **{med['after']:.2f}**.",
    ]
    data = {"machine": machine(), "images": n, "rounds": rounds, "trees": trees, "runs": runs, "median": med}
    emit("\n".join(parts), data, args.json)


if __name__ == "__main__":
    main()
