"""The only module that knows timm: build a ConvNeXt classifier, save and load model bundles.

A bundle is a directory holding ``model.safetensors`` (weights, never a pickle) and
``model.json`` (the ModelSpec), or the pair ``NAME.safetensors`` + ``NAME.json``.
The network takes raw uint8 NHWC pixels: cast, layout change and mean/std normalisation
live inside :class:`PixelModel`, so PyTorch, ONNX and TensorRT all see the same input.
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from synthsight import __version__
from synthsight.artifacts import BUNDLE_SUFFIXES, SPEC_NAME, WEIGHTS_NAME, bundle_paths
from synthsight.atomic import write_atomic
from synthsight.errors import ModelFileError, UsageError
from synthsight.spec import ModelSpec


class PixelModel(nn.Module):
    """uint8 ``[N, H, W, 3]`` pixels -> float32 logits ``[N, C]`` around a timm classifier."""

    def __init__(self, net: nn.Module, spec: ModelSpec):
        super().__init__()
        self.net = net
        self.spec = spec
        mean = torch.tensor(spec.preprocess.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(spec.preprocess.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("inv_std", 1.0 / std, persistent=False)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC -> normalised float32 NCHW (channels_last memory, no copy of the layout).

        Cast first, then permute: TensorRT accepts a uint8 tensor only as a network input that
        feeds a Cast ("TensorRT does not support UINT8 types for intermediate tensors", onnx-tensorrt
        ModelImporter.cpp), so a Transpose on the uint8 input makes every engine build fail.
        """
        x = pixels.float().permute(0, 3, 1, 2)
        return (x - self.mean) * self.inv_std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(pixels))


def build(spec: ModelSpec, init: str | Path = "random") -> PixelModel:
    """Create the network of ``spec``; ``init`` is ``random``, ``imagenet`` (timm hub) or a weights path."""
    import timm

    pretrained = str(init) == "imagenet"
    if pretrained:
        require_imagenet_weights(spec.arch)
    try:
        net = timm.create_model(spec.arch, pretrained=pretrained, num_classes=spec.num_classes)
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise UsageError(f"unknown architecture {spec.arch!r} (any timm model name works)") from None
        raise
    except Exception as exc:
        if pretrained:
            raise UsageError(
                f"cannot fetch ImageNet weights for {spec.arch} from the Hugging Face hub "
                f"({type(exc).__name__}); use --init random or --init PATH to a local checkpoint"
            ) from None
        raise
    model = PixelModel(net, spec)
    if not pretrained and str(init) != "random":
        _load_weights_into(model, Path(init))
    return model


HUB_TIMEOUT_S = 3.0  # one connection attempt: offline is said in seconds, not after minutes of retries
_TRUE = ("1", "ON", "YES", "TRUE")


def require_imagenet_weights(arch: str) -> None:
    """Refuse ``--init imagenet`` in one line, within seconds, when its weights are neither cached here nor
    reachable: offline (``HF_HUB_OFFLINE``) or when the hub does not answer one connection attempt (the hub
    client would otherwise retry for a minute, a line per retry)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    if cfg is None or _imagenet_cached(cfg):
        return  # no such pretrained tag (timm says so itself), or nothing to fetch
    hint = "use --init random, or --init PATH to a local checkpoint or bundle"
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE:
        raise UsageError(f"--init imagenet: the ImageNet weights of {arch} are not in the local cache and "
                         f"HF_HUB_OFFLINE is set: {hint}")  # fmt: skip
    hub = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    host = urlparse(hub if cfg.hf_hub_id else cfg.url)
    if not _reachable(host.hostname or "", host.port or (80 if host.scheme == "http" else 443)):
        raise UsageError(f"--init imagenet: cannot reach {host.hostname} to fetch the ImageNet weights of {arch} "
                         f"(no answer within {HUB_TIMEOUT_S:g} s): {hint}")  # fmt: skip


def _imagenet_cached(cfg) -> bool:
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = cfg.hf_hub_id.partition("@")
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
        return any(isinstance(try_to_load_from_cache(repo, n, revision=revision or None), str) for n in names)
    if cfg.url:
        return (Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name).is_file()
    return True


def _reachable(host: str, port: int) -> bool:
    """One TCP connection attempt (name lookup included) that gives up after HUB_TIMEOUT_S."""
    import socket
    import threading

    result: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=HUB_TIMEOUT_S).close()
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, daemon=True)  # a name lookup has no timeout of its own
    worker.start()
    worker.join(HUB_TIMEOUT_S + 0.5)
    return bool(result and result[0])


def _load_weights_into(model: PixelModel, path: Path) -> None:
    if not path.exists():
        raise ModelFileError(f"weights not found: {path}")
    if path.is_dir() or path.suffix in BUNDLE_SUFFIXES:
        state = _read_safetensors(bundle_paths(path)[0])
    else:
        state = _read_torch_checkpoint(path)
    own = model.net.state_dict()
    # An ImageNet checkpoint has a 1000-class head: keep the backbone, start the head fresh.
    dropped = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    for key in dropped:
        del state[key]
    missing, unexpected = model.net.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in dropped]
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: weights do not fit {model.spec.arch} "
            f"(missing {len(missing)} tensors, e.g. {missing[:2]}; unexpected {len(unexpected)}, e.g. {unexpected[:2]})"
        )


def _read_torch_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(
            f"{path}: refused to load - not a plain weights file ({type(exc).__name__}). synthsight never "
            "unpickles arbitrary objects; save a state_dict or use a safetensors bundle"
        ) from None
    for key in ("state_dict", "model", "model_state_dict", "state_dict_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFileError(f"{path}: expected a state_dict of tensors")
    prefixes = ("module.", "net.", "model.")
    return {next((k[len(p) :] for p in prefixes if k.startswith(p)), k): v for k, v in obj.items()}


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.exists():
        raise ModelFileError(f"bundle weights not found: {path}")
    try:
        return load_file(str(path))
    except Exception as exc:
        raise ModelFileError(f"{path}: unreadable safetensors file ({exc})") from None


def read_spec(path: str | Path) -> ModelSpec:
    """The ModelSpec of a bundle, without touching its weights."""
    spec_path = bundle_paths(path)[1]
    if not spec_path.exists():
        raise ModelFileError(f"bundle spec not found: {spec_path}")
    return ModelSpec.from_json(spec_path.read_text(encoding="utf-8"))


def write_spec(spec: ModelSpec, path: str | Path) -> Path:
    """Replace the spec JSON of an existing bundle (e.g. a new threshold); weights are not touched."""
    spec_path = bundle_paths(path)[1]
    if not spec_path.exists():
        raise ModelFileError(f"bundle spec not found: {spec_path}")
    spec.validate()
    write_atomic(spec_path, spec.to_json() + "\n")
    return spec_path


def save_bundle(model: PixelModel, spec: ModelSpec, path: str | Path) -> Path:
    """Write weights (safetensors) and spec (JSON) to directory ``path``; returns the directory."""
    from safetensors.torch import save_file

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    if not spec.created:
        spec.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    spec.versions = {**runtime_versions(), **spec.versions}
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    weights, spec_path = out / WEIGHTS_NAME, out / SPEC_NAME
    save_file(state, str(weights), metadata={"synthsight.spec": spec.to_json(indent=None)})
    spec_path.write_text(spec.to_json() + "\n", encoding="utf-8")
    return out


def load_bundle(path: str | Path, device: str = "cpu") -> tuple[PixelModel, ModelSpec]:
    """Load a bundle into an eval-mode :class:`PixelModel` on ``device``."""
    spec = read_spec(path)
    model = build(spec, "random")
    state = _read_safetensors(bundle_paths(path)[0])
    try:
        model.net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{path}: weights do not match spec arch {spec.arch} ({first})") from None
    return model.eval().to(device), spec


def runtime_versions() -> dict[str, str]:
    import timm

    return {
        "synthsight": __version__,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
    }
