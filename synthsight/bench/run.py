"""What `synthsight bench` measures and how it prints it (see the package docstring)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from synthsight.bench.images import classify, synthetic_set
from synthsight.bench.machine import machine_info
from synthsight.bench.timing import backend_targets, decode_rates, scan_rate, time_backend


@dataclass
class BenchConfig:
    model: Path
    backends: tuple[str, ...] = ()  # empty: every backend that can run this model here
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    images: Path | None = None
    synthetic: int = 32
    seconds: float = 2.0
    workers: int | None = None
    decode: bool = True
    scan: bool = True


def run_bench(config: BenchConfig, progress=lambda msg: None) -> dict[str, Any]:
    """Run every measurement of ``config``; returns a JSON-ready dict (see :func:`format_result`)."""
    import tempfile

    from synthsight.errors import UsageError

    result: dict[str, Any] = {"machine": machine_info(), "config": asdict(config), "model": str(config.model)}
    with tempfile.TemporaryDirectory(prefix="synthsight-bench-") as tmp:
        by_class = classify(config.images) if config.images else synthetic_set(Path(tmp) / "images", config.synthetic)
        files = [p for group in by_class.values() for p in group]
        if not files:
            raise UsageError(f"no images found in {config.images}")
        targets = backend_targets(config.model, config.backends)
        if not targets:
            raise UsageError(
                f"no backend can run {config.model} here (asked for: {','.join(config.backends) or 'any'})"
            )
        spec = None
        result["backends"] = []
        for target in targets:
            progress(f"bench: {target['backend']} {target['device']} {target['precision']} ({target['path']})")
            row, spec = time_backend(target, files, config.batch_sizes, config.seconds, spec)
            result["backends"].append(row)
        if config.decode and spec is not None:
            progress("bench: decode pool")
            result["decode"] = decode_rates(by_class, spec, config.workers)
        from synthsight.bench.cpu import auto_choice

        progress("bench: what --precision auto picks")
        result["auto"] = auto_choice(config.model, config.workers)
        if config.scan:
            progress("bench: end-to-end scan")
            result["scan"] = scan_rate(files, config.model, config.workers, Path(tmp))
    return result


def format_result(result: dict[str, Any]) -> str:
    """Plain-text tables for the terminal."""
    m = result["machine"]
    lines = [
        f"machine: {m['cpu']} ({m['cores']} cores), {m['memory_gib']} GiB, {m['gpu'] or 'no GPU'}"
        + (f" (driver {m['gpu_driver']})" if m.get("gpu_driver") else ""),
        f"software: {m['versions_line']}; load average {m['load_average']}",
        f"model: {result['model']}",
        "",
    ]
    rows = [("backend", "device", "precision", "batch", "images/s", "p50 ms", "p99 ms", "certificate vs fp32")]
    for b in result.get("backends", []):
        if "skipped" in b:
            lines.append(f"skipped {b['backend']} {b['device']} {b['precision']}: {b['skipped']}")
            continue
        for r in b["batches"]:
            rows.append(
                (
                    b["backend"],
                    b["device"],
                    b["precision"],
                    str(r["batch"]),
                    f"{r['images_per_s']:.1f}",
                    f"{r['p50_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    b.get("certificate") or "",
                )
            )
    lines += _columns(rows)
    auto = result.get("auto")
    if auto:
        cpu = auto.get("cpu") or {}
        lines += ["", f"--precision auto picks {auto['chosen'] or 'nothing'}: {auto['why']}"]
        if cpu:
            lines.append(f"  CPU {cpu['model']}; flags {', '.join(cpu['flags']) or '-'}; native: "
                         f"{', '.join(cpu['native']) or 'fp32 only'}")  # fmt: skip
    if "decode" in result:
        d = result["decode"]
        lines += ["", f"decode + resize, {d['workers']} processes"]
        lines += _columns(
            [("images", "n", "images/s")]
            + [(name, str(c["images"]), f"{c['images_per_s']:.1f}") for name, c in d["classes"].items()]
        )
    if "scan" in result:
        s = result["scan"]
        lines += [
            "",
            f"end-to-end scan: {s['images']} images in {s['seconds']:.1f} s = {s['images_per_s']:.1f} images/s",
        ]
    return "\n".join(lines)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
