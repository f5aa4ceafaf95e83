"""GPU benchmark (run by `make gpu-check`): TensorRT FP16 engine, ONNX Runtime TensorRT EP and CUDA EP,
PyTorch fp16, over a batch sweep up to 256. Exits 0 with a 'skipped: no CUDA device' line without a GPU.

    python benchmarks/bench_gpu.py [--quick] [--model BUNDLE] [--batch-sizes 1,8,...,256] [--no-write] [--json FILE]

Model: a random-init convnext_tiny at 224 px unless --model is given (throughput does not depend on
the weights), exported with `synthsight export --format all` (ONNX, FP16 ONNX, strongly typed engine).
Every figure is images/s at the median latency of repeated calls, host uint8 in and host logits out
(what a scan pays), warm-up excluded. On success the GPU section of RESULTS.md is rewritten.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, emit, log, machine, parser, table  # noqa: E402

ARCH, SIZE = "convnext_tiny", 224
SWEEP = (1, 8, 32, 64, 128, 256)


def cuda_device() -> str | None:
    """The name of CUDA device 0, or None (no driver, no torch CUDA build, or no device)."""
    from synthsight.scanner.benchmark import machine_info

    if not machine_info().get("gpu"):  # nvidia-smi found no GPU: skip without importing torch
        return None
    try:
        import torch
    except ImportError:
        return None
    try:
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # a broken driver install reads as "no device", with the reason in the log
        return None


def make_model(folder: Path, given: str | None, max_batch: int) -> tuple[Path, list[Path], list[Path]]:
    """Bundle + its ONNX / FP16 ONNX / engine files, made with synthsight's own exporter (its CLI)."""
    if given:
        bundle = Path(given)
    else:
        import torch

        from synthsight.model import build, save_bundle
        from synthsight.preprocess import PreprocessSpec
        from synthsight.spec import ModelSpec

        spec = ModelSpec(arch=ARCH, preprocess=PreprocessSpec(size=SIZE))
        torch.manual_seed(0)
        bundle = save_bundle(build(spec, "random").eval(), spec, folder / "bundle")
    out = folder / "exported"
    cmd = [sys.executable, "-m", "synthsight", "export", str(bundle), "--format", "all", "--out", str(out),
           "--max-batch", str(max_batch)]  # fmt: skip
    log("exporting: " + " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        log(f"export failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return bundle, sorted(out.glob("*.onnx")), sorted(out.glob("*.engine"))


def ort_session(onnx: Path, provider: str, cache: Path, max_batch: int, fp16_flag: bool):
    """An ONNX Runtime session pinned to one GPU provider (CPU fallback forbidden, so a partial
    placement cannot pass for GPU speed)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if provider == "TensorrtExecutionProvider":
        shape = lambda n: f"pixels:{n}x{SIZE}x{SIZE}x3"  # noqa: E731
        options = {
            "trt_fp16_enable": fp16_flag,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_profile_min_shapes": shape(1),
            "trt_profile_opt_shapes": shape(min(32, max_batch)),
            "trt_profile_max_shapes": shape(max_batch),
        }
        providers = [(provider, options), "CUDAExecutionProvider"]
    else:
        providers = [provider]
    session = ort.InferenceSession(str(onnx), sess_options=opts, providers=providers)
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"{provider} not available (got {session.get_providers()})")
    name = session.get_inputs()[0].name
    return lambda pixels: session.run(None, {name: pixels})[0]


def contenders(bundle: Path, onnx: list[Path], engines: list[Path], cache: Path, max_batch: int) -> dict:
    """label -> zero-argument opener returning (infer, close)."""
    from synthsight.runtime import open_backend

    def runtime(path: Path, **kw):
        def opener():
            backend = open_backend(str(path), **kw)
            return backend.infer, backend.close

        return opener

    def direct(path: Path, provider: str, fp16_flag: bool = False):
        return lambda: (ort_session(path, provider, cache, max_batch, fp16_flag), lambda: None)

    out = {f"TensorRT engine ({e.name}), synthsight runtime": runtime(e, backend="tensorrt") for e in engines}
    fp32 = [p for p in onnx if "fp16" not in p.name]
    fp16 = [p for p in onnx if "fp16" in p.name]
    for path in fp16:
        out[f"ORT TensorRT EP, {path.name}"] = direct(path, "TensorrtExecutionProvider")
        out[f"ORT CUDA EP, {path.name}"] = direct(path, "CUDAExecutionProvider")
    for path in fp32:
        out[f"ORT TensorRT EP, {path.name} + trt_fp16_enable"] = direct(path, "TensorrtExecutionProvider", True)
        out[f"ORT CUDA EP, {path.name} (fp32)"] = direct(path, "CUDAExecutionProvider")
    for path in onnx[:1]:
        out[f"ORT auto provider ({path.name}), synthsight runtime"] = runtime(
            path, backend="onnxruntime", device="cuda"
        )
    out["PyTorch fp16 autocast, synthsight runtime"] = runtime(bundle, backend="torch", device="cuda", precision="fp16")
    out["PyTorch fp32, synthsight runtime"] = runtime(bundle, backend="torch", device="cuda", precision="fp32")
    return out


def sweep(openers: dict, batch_sizes: tuple[int, ...], seconds: float) -> dict:
    import numpy as np

    from synthsight.scanner.benchmark import measure_latency

    pixels = np.random.default_rng(0).integers(0, 256, (max(batch_sizes), SIZE, SIZE, 3), dtype=np.uint8)
    results: dict[str, dict] = {}
    for label, opener in openers.items():
        log(f"gpu bench: {label}")
        try:
            infer, close = opener()
        except Exception as exc:  # a provider missing here is a row that says so, not a crash
            results[label] = {"skipped": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            continue
        rows = []
        try:
            for n in batch_sizes:
                rows.append(measure_latency(infer, pixels[:n], seconds))
                log(f"  batch {n}: {rows[-1]['images_per_s']:.0f} images/s")
        except Exception as exc:
            results[label] = {"batches": rows, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        else:
            results[label] = {"batches": rows}
        finally:
            close()
    return results


def render(data: dict) -> str:
    sizes = data["batch_sizes"]
    rows = []
    for label, r in data["results"].items():
        if "skipped" in r:
            rows.append([label] + ["-"] * len(sizes) + [f"skipped: {r['skipped']}"])
            continue
        rates = {b["batch"]: b["images_per_s"] for b in r["batches"]}
        p99 = {b["batch"]: b["p99_ms"] for b in r["batches"]}
        best = max(rates, key=rates.get) if rates else None
        note = f"best at batch {best}, p99 {p99[best]:.1f} ms" if best else ""
        rows.append([label] + [rates.get(n, "-") for n in sizes] + [note + (f"; {r['error']}" if "error" in r else "")])
    return "\n".join([
        f"{ARCH} at {SIZE} px ({data['model']}); images/s at the median latency, host uint8 in, host logits out.",
        "",
        table(["runtime"] + [f"batch {n}" for n in sizes] + ["note"], rows),
    ])  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", help="a bundle directory (default: random-init convnext_tiny)")
    p.add_argument("--batch-sizes", default=",".join(map(str, SWEEP)))
    p.add_argument("--seconds", type=float, default=None, help="per runtime and batch size (default 2; 0.2 quick)")
    p.add_argument("--no-write", action="store_true", help="do not rewrite the GPU section of RESULTS.md")
    args = p.parse_args()
    device = cuda_device()
    if device is None:
        print("skipped: no CUDA device (bench_gpu.py needs an NVIDIA GPU, its driver and torch with CUDA)")
        return
    sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    if args.quick:
        sizes = tuple(b for b in sizes if b <= 8) or sizes[:1]
    seconds = args.seconds or (0.2 if args.quick else 2.0)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        bundle, onnx, engines = make_model(Path(tmp), args.model, max(sizes))
        openers = contenders(bundle, onnx, engines, Path(tmp) / "trt-cache", max(sizes))
        results = sweep(openers, sizes, seconds)
    data = {"machine": machine(), "device": device, "model": args.model or f"random-init {ARCH}",
            "batch_sizes": list(sizes), "results": results}  # fmt: skip
    markdown = render(data)
    emit(markdown, data, args.json)
    if not args.no_write and not args.quick:
        from run_all import update_section

        update_section(BENCH_DIR / "RESULTS.md", "gpu", markdown, f"python benchmarks/bench_gpu.py  # {device}")


if __name__ == "__main__":
    main()
