"""The scan against its shared-core bound, this checkout against another one, in rounds that bracket both.

    python benchmarks/bench_scan_ab.py --before DIR [--rounds R] [--images N] [--json FILE]

DIR is another checkout of synthsight (say main before a change: ``git worktree add /tmp/old <commit>``, or a
copy of this one with ``scanner/overlap.DEPTH = 1``: one batch at a time, everything else the same).

Each round runs, each in a fresh child process: decode-only, inference-only, the two scans (before and after;
which goes first alternates between rounds), then inference-only and decode-only again. The bound of both
scans is made of the rows that bracket them: per image, the mean of the two decode-only times plus the mean of
the two inference-only times (decode and inference share the cores, so the bound is 1 / (1/decode +
1/inference)); a load that changes steadily during the round moves the bound as it moves the scans. The
bound rows run this checkout's decode pool and backend: for a DIR whose stages differ, read the after/before
ratio of the scans, which needs no bound. Reported per round: both fractions, the after/before ratio of the
two scans' rates, and how far the two brackets differ (``drift``: the larger relative change of the decode or
the inference rate; a round that drifted more than ``--steady`` is unsteady, and the medians over the steady
rounds are given too). The load average is printed
with every row: on a machine other jobs share, only rounds of similar load compare.
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


def _row(name: str, tree: str | None = None, **kwargs) -> dict:
    """One of bench_scan.py's rows in a fresh child; ``tree`` first on its ``sys.path`` (spawn copies ours)."""
    if tree:
        sys.path.insert(0, tree)
    try:
        row = bench_scan.measure(name, **kwargs)
    finally:
        if tree:
            sys.path.remove(tree)
    if "error" in row:
        raise RuntimeError(f"{tree or REPO}: {name}: {row['error']}")
    log(f"    {name} {tree or ''}: {row['images_per_s']:.2f} images/s, load {load()}")
    return {**row, "load": load()}


def one_round(trees: list[tuple[str, str]], files: list[str], onnx: str, out: str) -> dict:
    """decode, inference, the scans of ``trees`` in that order, inference, decode; the fractions and ratios."""
    def bounds() -> tuple[dict, dict]:
        return (_row("decode_only", files=files, workers=None),
                _row("inference_only", onnx=onnx, images=len(files)))  # fmt: skip

    d1, i1 = bounds()
    scans = {name: _row("synthsight_scan", tree, files=files, onnx=onnx, out=f"{out}/{name}.csv", workers=None)
             for name, tree in trees}  # fmt: skip
    i2, d2 = reversed(bounds())
    first, second = bound_s_of(d1, i1), bound_s_of(d2, i2)
    bound_s = (first + second) / 2  # seconds per image: the mean of the two brackets
    result = {"order": [name for name, _ in trees], "bound_images_per_s": 1 / bound_s,
              "drift": max(abs(a - b) / min(a, b) for a, b in ((d1["images_per_s"], d2["images_per_s"]),
                                                               (i1["images_per_s"], i2["images_per_s"]))),
              "rows": {"decode": [d1, d2], "inference": [i1, i2]}}  # fmt: skip
    for name, row in scans.items():
        opening = row["seconds"] - row["session_seconds"]
        result[name] = {
            "images_per_s": row["images_per_s"],
            "fraction": row["images_per_s"] * bound_s,
            "fraction_after_opening": len(files) / row["session_seconds"] * bound_s,
            "opening_s": opening,
            "load": row["load"],
        }
    result["ratio"] = result["after"]["images_per_s"] / result["before"]["images_per_s"]
    return result


def bound_s_of(decode: dict, inference: dict) -> float:
    """Seconds per image of decode then inference on the same cores."""
    return 1 / decode["images_per_s"] + 1 / inference["images_per_s"]


def summary(rounds: list[dict], steady: float) -> dict:
    def med(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    out = {}
    for label, chosen in (("all", rounds), ("steady", [r for r in rounds if r["drift"] <= steady])):
        out[label] = {
            "rounds": len(chosen),
            "ratio": med([r["ratio"] for r in chosen]),
            **{f"{name}_{key}": med([r[name][key] for r in chosen])
               for name in ("before", "after") for key in ("fraction", "fraction_after_opening", "opening_s")},
        }  # fmt: skip
    # The second scan of a round may run slower (or faster) than the first whatever it is: the ratio's median
    # over the rounds where "after" ran first and over those where it ran second, and their geometric mean,
    # which cancels a constant effect of the position.
    first = med([r["ratio"] for r in rounds if r["order"][0] == "after"])
    second = med([r["ratio"] for r in rounds if r["order"][0] == "before"])
    out["position"] = {"after_first": first, "after_second": second,
                       "ratio": (first * second) ** 0.5 if first and second else None}  # fmt: skip
    return out


def render(rounds: list[dict], med: dict, n: int, trees: dict, steady: float) -> str:
    rows = []
    for k, r in enumerate(rounds, 1):
        b, a = r["before"], r["after"]
        rows.append([k, "-".join(r["order"]), f"{r['bound_images_per_s']:.2f}", f"{r['drift']:.2f}",
                     f"{b['fraction']:.2f} ({b['fraction_after_opening']:.2f})",
                     f"{a['fraction']:.2f} ({a['fraction_after_opening']:.2f})", f"{r['ratio']:.3f}",
                     f"{b['opening_s']:.2f} / {a['opening_s']:.2f}", f"{b['load']} / {a['load']}"])  # fmt: skip
    lines = [
        f"{n} images (bench_scan.py's corpus and model), {len(rounds)} rounds; before = {trees['before']}, "
        f"after = {trees['after']}. Each round: decode, inference, the two scans, inference, decode.",
        "",
        table(["round", "order", "bound images/s", "drift", "before (after opening)", "after (after opening)",
               "after/before", "opening s", "load"], rows),  # fmt: skip
        "",
    ]
    for label, m in med.items():
        if label == "position":
            continue
        if not m["rounds"]:
            lines.append(f"- {label}: no round (drift <= {steady})")
            continue
        lines.append(
            f"- Medians over {m['rounds']} {label} rounds" + (f" (drift <= {steady})" if label == "steady" else "")
            + f": fraction of the shared-core bound before **{m['before_fraction']:.2f}**, after "
            f"**{m['after_fraction']:.2f}** (from the first file: {m['before_fraction_after_opening']:.2f} and "
            f"{m['after_fraction_after_opening']:.2f}; opening {m['before_opening_s']:.2f} s and "
            f"{m['after_opening_s']:.2f} s); after/before scan rate **{m['ratio']:.3f}**."
        )
    pos = med["position"]
    if pos["ratio"]:
        lines.append(f"- After/before with the scan's position in the round cancelled: **{pos['ratio']:.3f}** (median "
                     f"{pos['after_first']:.3f} where after ran first, {pos['after_second']:.3f} where it ran second).")
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, required=True, help="the other checkout")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 6; 2 with --quick)")
    p.add_argument("--images", type=int, default=None, help="corpus size (default 96; 4 with --quick)")
    p.add_argument("--steady", type=float, default=0.15, help="largest drift of the bound in a steady round")
    args = p.parse_args()
    rounds, n = args.rounds or (2 if args.quick else 6), args.images or (4 if args.quick else 96)
    trees = {"before": str(args.before.resolve()), "after": str(REPO)}
    files = [str(f) for f in mixed_corpus(args.cache, n)]
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-scan-ab-") as tmp:
        onnx = str(bench_scan.export_model(Path(tmp)))
        for r in range(rounds):
            order = list(trees.items()) if r % 2 == 0 else list(reversed(trees.items()))
            result = one_round(order, files, onnx, tmp)
            results.append(result)
            log(f"  [{r + 1}/{rounds}] before {result['before']['fraction']:.2f}, after "
                f"{result['after']['fraction']:.2f} of the bound; after/before {result['ratio']:.3f}; "
                f"drift {result['drift']:.2f}")  # fmt: skip
    med = summary(results, args.steady)
    data = {"machine": machine(), "images": n, "trees": trees, "rounds": results, "median": med,
            "steady": args.steady}  # fmt: skip
    emit(render(results, med, n, trees, args.steady), data, args.json)


if __name__ == "__main__":
    main()
