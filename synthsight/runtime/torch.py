"""PyTorch backend: the bundle's own model, eval mode, inference_mode, channels_last.

The same uint8 NHWC input contract as the exported files: normalisation happens inside
:class:`synthsight.model.PixelModel`, exactly as in the ONNX graph. Precision: fp32 or bf16
autocast on CPU; fp16 autocast (default), bf16 or fp32 on CUDA, where batches go through
runtime/cuda_feed.py (pinned staging, a copy stream, two batches in flight) and cuDNN benchmarks its
convolutions for each batch shape once.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from synthsight.errors import BackendUnavailable, UsageError
from synthsight.extras import install_hint
from synthsight.machine import parse_device
from synthsight.runtime.base import Backend, with_detail

# Which precisions each device type runs, and its default ("auto").
PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp16", "bf16", "fp32")}


def resolve_device(device: str) -> str:
    """The torch device string for ``--device``: ``auto`` -> ``cuda:0`` when torch sees a GPU, else ``cpu``.

    Used by the PyTorch backend and by training. Raises BackendUnavailable for a GPU that is not here.
    """
    import torch

    wanted = parse_device(device)
    if wanted.kind == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if wanted.kind == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise BackendUnavailable(f"--device {wanted}: torch sees no CUDA GPU on this machine (use --device cpu)")
    if wanted.gpu >= torch.cuda.device_count():
        raise BackendUnavailable(f"--device {wanted}: only {torch.cuda.device_count()} CUDA device(s) here")
    return f"cuda:{wanted.gpu}"


def resolve_precision(device: str, precision: str) -> str:
    kind = device.split(":")[0]
    allowed = PRECISIONS[kind]
    if precision in (None, "", "auto"):
        return allowed[0]
    if precision not in allowed:
        raise UsageError(f"--precision {precision} is not available for PyTorch on {kind} (use {' or '.join(allowed)})")
    if kind == "cpu" and precision == "bf16":
        from synthsight.runtime.cpu.features import here

        features = here()
        if not features.native("bf16"):  # autocast would emulate it, ~10x slower than fp32
            raise UsageError(f"--precision bf16: this CPU ({features.name}) has {features.why('bf16')}")
    return precision


def torch_cuda() -> tuple[bool, str]:
    """Whether torch sees a CUDA GPU here, and which (the probes of torch, ONNX Runtime and TensorRT)."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        return False, "torch sees no CUDA GPU (NVIDIA driver + a CUDA build of torch needed)"
    return True, torch.cuda.get_device_name(0)


class TorchBackend(Backend):
    """Runs a model bundle (directory, or NAME.safetensors + NAME.json) with PyTorch."""

    name = "torch"

    @classmethod
    def probe(cls, details: dict) -> dict[str, tuple[bool, str]]:
        try:
            import torch
        except ImportError:
            missing = (False, f"torch is not installed ({install_hint('train')})")
            return {"cpu": missing, "cuda": missing}
        cuda = with_detail(torch_cuda(), "fp16, bf16, fp32")
        return {"cpu": (True, f"torch {torch.__version__} (fp32, bf16)"), "cuda": cuda}

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        precision: str = "auto",
        max_batch: int | None = None,
        threads: int | None = None,
    ):
        import torch

        from synthsight.model import load_bundle

        self.device = resolve_device(device)
        self.precision = resolve_precision(self.device, precision)
        if threads and self.device == "cpu":
            torch.set_num_threads(int(threads))
        model, spec = load_bundle(path, device=self.device)
        super().__init__(spec, max_batch=max_batch, source=str(path))
        # channels_last: ConvNeXt's depthwise convs and the NHWC input both prefer it.
        self._model = model.eval().to(memory_format=torch.channels_last)
        self._torch = torch
        dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]
        self._autocast = (self.device.split(":")[0], dtype)
        self._feed = None
        if self.device.startswith("cuda"):
            self.overlaps = True  # submit() queues on the GPU and returns (runtime/cuda_feed.py)
            # A scan's batches have one shape (the last, partial one a second): cuDNN times its convolution
            # algorithms once per shape and keeps the fastest, instead of guessing by heuristics every time.
            torch.backends.cudnn.benchmark = True

    @property
    def model(self):
        """The underlying PixelModel (for Grad-CAM and tests)."""
        return self._model

    def submit(self, pixels: np.ndarray):
        if self.device == "cpu":
            return super().submit(pixels)
        return self._cuda_feed(len(pixels)).submit(self.check_input(pixels))

    def _cuda_feed(self, n: int):
        """The feed, with buffers of ``max_batch`` rows (without one: the largest batch so far)."""
        feed = self._feed
        if feed is None or (not self.max_batch and n > feed.rows):
            from synthsight.runtime.cuda_feed import CudaFeed

            if feed is not None:
                feed.close()
            rows = self.max_batch or n
            classes = self.model_spec.num_classes
            feed = self._feed = CudaFeed(self._torch, self.device, self.input_shape, classes, rows, self._run)
        return feed

    def _run(self, x, stream):
        """The model on a device batch, queued on ``stream`` (the feed's compute stream)."""
        device_type, dtype = self._autocast
        with self._torch.inference_mode(), self._torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            return self._model(x).float()

    def _infer(self, pixels: np.ndarray) -> np.ndarray:
        if self.device != "cpu":
            return self._cuda_feed(len(pixels)).submit(pixels).result()
        torch = self._torch
        device_type, dtype = self._autocast
        with warnings.catch_warnings():  # a read-only batch (the decode ring): the model never writes its input
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
            x = torch.from_numpy(pixels)
        with torch.inference_mode(), torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            logits = self._model(x)
        return logits.float().numpy()

    def close(self) -> None:
        if not self._closed:
            if self._feed is not None:
                self._feed.close()
                self._feed = None
            self._model = None
            if self.device.startswith("cuda"):
                self._torch.cuda.empty_cache()
        super().close()
