"""GPU benchmark (run by `make gpu-check`): TensorRT engine, ONNX Runtime TensorRT EP and CUDA EP, PyTorch CUDA.

    python benchmarks/bench_gpu.py [--quick] [--rows engine,ort-trt,ort-cuda,torch] [--model BUNDLE]
                                   [--batch-sizes 1,8,...,256] [--no-write] [--json FILE]

Model: a random-init convnext_tiny at 224 px unless --model is given (throughput does not depend on
the weights), exported with `synthsight export --format engine` (ONNX, FP16 ONNX, strongly typed
engine; `--format fp16` without the engine row).
Every figure is images/s at the median latency of repeated calls, host uint8 in and host logits out
(what a scan pays), warm-up excluded.

It cannot pass with nothing measured: each wanted row (``--rows``, default $GPU_ROWS or all; the
names of synthsight.gpucheck.ROWS) must produce figures, and a row that does not - its component
missing, its provider falling back, its export failing - is printed with the reason and makes the
exit status non-zero (1; 2 when there is no CUDA device at all). A failed export is a failed
benchmark. The GPU section of RESULTS.md is rewritten only by a full run in which every wanted row ran.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, emit, log, machine, parser, random_model, table  # noqa: E402

from synthsight import gpucheck  # noqa: E402

ARCH, SIZE = "convnext_tiny", 224
SWEEP = (1, 8, 32, 64, 128, 256)
PROFILE_OPT = 32  # the engine profile's optimal batch (export --batch), capped by the largest batch measured


class ExportFailed(Exception):
    """`synthsight export` failed: the benchmark fails with its message."""


def export_format(rows: tuple[str, ...]) -> str | None:
    """What to export: ``engine`` (ONNX, FP16 ONNX and the engine) when the engine row is wanted, ``fp16`` for
    the ONNX Runtime rows, nothing for the torch row alone (it runs the bundle; no onnxslim needed). Never
    ``all``: it would also calibrate INT8 and measure OpenVINO certificates (nncf) on the GPU box."""
    if "engine" in rows:
        return "engine"
    return "fp16" if {"ort-trt", "ort-cuda"} & set(rows) else None


def make_model(
    folder: Path, given: str | None, max_batch: int, rows: tuple[str, ...] = tuple(gpucheck.ROWS)
) -> tuple[Path, list[Path], list[Path], str]:
    """Bundle + its ONNX / FP16 ONNX / engine files, made with synthsight's own exporter (its CLI)."""
    bundle = Path(given) if given else random_model(folder / "bundle", ARCH, SIZE)[0]
    fmt = export_format(rows)
    if fmt is None:
        return bundle, [], [], ""
    out = folder / "exported"
    cmd = [sys.executable, "-m", "synthsight", "export", str(bundle), "--format", fmt,
           "--out", str(out), "--batch", str(min(PROFILE_OPT, max_batch)), "--max-batch", str(max_batch)]  # fmt: skip
    log("exporting: " + " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ExportFailed(f"export failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    skipped = next((line for line in done.stdout.splitlines() if line.startswith("engine skipped")), "")
    return bundle, sorted(out.glob("*.onnx")), sorted(out.glob("*.engine")), skipped


def ort_session(onnx: Path, provider: str, cache: Path, max_batch: int):
    """An ONNX Runtime session on one GPU provider, with the options synthsight's runtime uses, that may not
    fall back to the CPU (so a partial placement cannot pass for GPU speed)."""
    import onnxruntime as ort

    from synthsight.runtime.onnxrt import CUDA_EP, TRT_EP, plan_providers, prepare_caches

    plan = dict(plan_providers("cuda", [TRT_EP, CUDA_EP], size=SIZE, max_batch=max_batch, cache_dir=cache))
    providers = [(provider, plan[provider])] + ([(CUDA_EP, plan[CUDA_EP])] if provider == TRT_EP else [])
    prepare_caches(list(providers))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    session = ort.InferenceSession(
        str(onnx), sess_options=opts, providers=[p for p, _ in providers], provider_options=[o for _, o in providers]
    )
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"{provider} did not load (session providers: {session.get_providers()})")
    name = session.get_inputs()[0].name
    return lambda pixels: session.run(None, {name: pixels})[0]


def contenders(bundle: Path, onnx: list[Path], engines: list[Path], cache: Path, max_batch: int) -> dict:
    """label -> (row, zero-argument opener returning (infer, close))."""
    from synthsight.runtime import open_backend

    def runtime(path: Path, **kw):
        def opener():
            backend = open_backend(str(path), max_batch=max_batch, **kw)
            return backend.infer, backend.close

        return opener

    def direct(path: Path, provider: str):
        return lambda: (ort_session(path, provider, cache, max_batch), lambda: None)

    out = {
        f"TensorRT engine ({e.name}), synthsight runtime": ("engine", runtime(e, backend="tensorrt")) for e in engines
    }
    for path in onnx:  # model.fp16.onnx, model.onnx: each provider computes in the file's own precision
        out[f"ORT TensorRT EP, {path.name}"] = ("ort-trt", direct(path, "TensorrtExecutionProvider"))
        out[f"ORT CUDA EP, {path.name}"] = ("ort-cuda", direct(path, "CUDAExecutionProvider"))
    torch_fp16 = runtime(bundle, backend="torch", device="cuda", precision="fp16")
    out["PyTorch fp16 autocast, synthsight runtime"] = ("torch", torch_fp16)
    out["PyTorch fp32, synthsight runtime"] = (
        "torch",
        runtime(bundle, backend="torch", device="cuda", precision="fp32"),
    )
    return out


def sweep(openers: dict, batch_sizes: tuple[int, ...], seconds: float, rows: tuple[str, ...]) -> dict:
    import numpy as np

    from synthsight.bench.timing import measure_latency

    pixels = np.random.default_rng(0).integers(0, 256, (max(batch_sizes), SIZE, SIZE, 3), dtype=np.uint8)
    results: dict[str, dict] = {}
    for label, (row, opener) in openers.items():
        if row not in rows:
            continue
        log(f"gpu bench: {label}")
        try:
            infer, close = opener()
        except Exception as exc:  # a provider that does not load here is a row that says why
            results[label] = {"row": row, "skipped": f"{type(exc).__name__}: {_first_line(exc)}"}
            continue
        measured = []
        try:
            for n in batch_sizes:
                measured.append(measure_latency(infer, pixels[:n], seconds))
                log(f"  batch {n}: {measured[-1]['images_per_s']:.0f} images/s")
        except Exception as exc:
            results[label] = {"row": row, "batches": measured, "error": f"{type(exc).__name__}: {_first_line(exc)}"}
        else:
            results[label] = {"row": row, "batches": measured}
        finally:
            close()
    return results


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def missing_rows(results: dict, rows: tuple[str, ...], known: dict[str, str | None]) -> dict[str, str]:
    """Wanted row -> why it produced no complete set of figures (empty when every wanted row ran)."""
    missing = {}
    for row in rows:
        mine = {label: r for label, r in results.items() if r["row"] == row}
        if any("batches" in r and "error" not in r for r in mine.values()):
            continue
        reasons = [f"{label}: {r.get('skipped') or r.get('error')}" for label, r in mine.items()]
        missing[row] = "; ".join(reasons) or known.get(row) or "nothing of this row was measured"
    return missing


def render(data: dict) -> str:
    sizes = data["batch_sizes"]
    rows = []
    for label, r in data["results"].items():
        if "skipped" in r:
            rows.append([label] + ["-"] * len(sizes) + [f"not run: {r['skipped']}"])
            continue
        rates = {b["batch"]: b["images_per_s"] for b in r["batches"]}
        p99 = {b["batch"]: b["p99_ms"] for b in r["batches"]}
        best = max(rates, key=rates.get) if rates else None
        note = f"best at batch {best}, p99 {p99[best]:.1f} ms" if best else ""
        rows.append([label] + [rates.get(n, "-") for n in sizes] + [note + (f"; {r['error']}" if "error" in r else "")])
    left_out = [r for r in gpucheck.ROWS if r not in data["rows"]]
    return "\n".join([
        f"{ARCH} at {SIZE} px ({data['model']}) on {data['device']}; images/s at the median latency, "
        "host uint8 in, host logits out.",
        f"Rows left out (GPU_ROWS): {', '.join(left_out)}." if left_out else "",
        "",
        table(["runtime"] + [f"batch {n}" for n in sizes] + ["note"], rows),
    ])  # fmt: skip


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rows", default=None, help=f"comma list among {', '.join(gpucheck.ROWS)} (default: all)")
    p.add_argument("--model", help="a bundle directory (default: random-init convnext_tiny)")
    p.add_argument("--batch-sizes", default=",".join(map(str, SWEEP)))
    p.add_argument("--seconds", type=float, default=None, help="per runtime and batch size (default 2; 0.2 quick)")
    p.add_argument("--no-write", action="store_true", help="do not rewrite the GPU section of RESULTS.md")
    args = p.parse_args()
    try:
        rows = gpucheck.wanted_rows(args.rows)
        device = gpucheck.probe_device()
    except (ValueError, gpucheck.NoDevice) as exc:
        print(f"not run: {exc}")
        return 2
    sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    if args.quick:
        sizes = tuple(b for b in sizes if b <= 8) or sizes[:1]
    seconds = args.seconds or (0.2 if args.quick else 2.0)
    known = gpucheck.row_problems(device)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        try:
            bundle, onnx, engines, engine_skipped = make_model(Path(tmp), args.model, max(sizes), rows)
        except ExportFailed as exc:
            print(f"GPU benchmark failed: {exc}")
            return 1
        if engine_skipped and not engines:
            known["engine"] = known.get("engine") or engine_skipped
        openers = contenders(bundle, onnx, engines, Path(tmp) / "trt-cache", max(sizes))
        results = sweep(openers, sizes, seconds, rows)
    data = {"machine": machine(), "device": ", ".join(device.names), "model": args.model or f"random-init {ARCH}",
            "rows": list(rows), "batch_sizes": list(sizes), "results": results}  # fmt: skip
    emit(render(data), data, args.json)
    missing = missing_rows(results, rows, known)
    for row, why in missing.items():
        print(f"row {row} ({gpucheck.ROWS[row]}): not run: {why}")
    if missing:
        return 1
    if not args.no_write and not args.quick:
        from run_all import update_section

        command = f"python benchmarks/bench_gpu.py --rows {','.join(rows)}  # {data['device']}"
        update_section(BENCH_DIR / "RESULTS.md", "gpu", render(data), command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
