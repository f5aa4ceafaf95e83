"""Train a timm ConvNeXt on labelled image folders and write a model bundle.

AdamW, cross-entropy, early stopping on validation loss (keeping the best epoch), random
horizontal flips for training batches only (with ``--augment`` / ``--align``'s degradations: train/augment.py),
seeded, AMP + channels_last on CUDA, a checkpoint every epoch (safetensors weights + a tensors-only state
file) that ``resume`` continues from.
``--resize tiles`` trains on one random native-resolution window per image per epoch and validates
(and measures the bundle) with the scan's own tiles and aggregate rule (runtime/tiles.py).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from synthsight.errors import UsageError
from synthsight.image.read_window import DEFAULT_MAX_PIXELS
from synthsight.machine import usable_cores
from synthsight.model import PixelModel, build, save_bundle
from synthsight.runtime.tiles import aggregate_all
from synthsight.runtime.torch import resolve_device
from synthsight.spec import ModelSpec, chance_note
from synthsight.train.augment import Degrade, recipe_for
from synthsight.train.checkpoint import BEST_WEIGHTS, CHECKPOINT_DIR, TrainState, load_checkpoint, save_checkpoint
from synthsight.train.data import CLASSES, DataIndex, ImageDataset, collate, collate_tiles, discover
from synthsight.train.out_folder import prepare_out
from synthsight.train.tiles import RandomTile, preprocess_for


@dataclass
class TrainConfig:
    data: str
    out: str
    arch: str = "convnext_tiny"
    size: int = 224
    resize: str = "squash"  # or "crop", or "tiles": native-resolution windows (image/tiles.py)
    # resize "tiles" only (None: the measured defaults, spec.DEFAULT_*): windows scored per image by validation,
    # eval and the scan, where they are placed, and how their logits make the image's
    tiles: int | None = None
    tile_placement: str | None = None
    tile_aggregate: str | None = None
    init: str = "imagenet"
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.05
    patience: int = 3
    min_delta: float = 1e-4  # val loss must drop by more than this to count as progress (ends 1e-5-step creeping)
    seed: int = 42
    device: str = "auto"
    workers: int | None = None
    deterministic: bool = False
    resume: str | None = None
    val_fraction: float = 0.1
    max_per_class: int | None = None  # a seeded sample of at most N files per class and generator, per split
    max_pixels: int = DEFAULT_MAX_PIXELS
    progress: bool = True
    overwrite: bool = False  # train into a non-empty --out (its exports are removed: they would be stale)
    shuffle_labels: bool = False  # control experiment: train on permuted labels (the task must become unlearnable)
    augment: str = "web"  # "none", "web" (the default, measured: docs/training.md) or a recipe JSON file
    align: str | None = None  # "format": JPEG at the real class's qualities; "size": native windows (--resize tiles)
    align_qualities: tuple[int, ...] = ()  # --align format: the real training files' JPEG qualities (the audit's)
    audit: dict | None = None  # the shortcut audit's summary (synthsight.audit, run by the CLI): in data_report.json


def fit(config: TrainConfig, audit: Callable[[], dict] | None = None) -> Path:
    """Train per ``config``; returns the bundle directory (``config.out``).

    ``audit`` (the CLI's shortcut audit, synthsight.audit: train cannot import it) runs once the model is
    built and before the data check; it returns TrainConfig fields (``audit``, ``align_qualities``).
    """
    out = Path(config.out)
    preprocess = preprocess_for(config)  # a bad --tiles fails before anything is written
    degrade_for(config, measured=audit is None)  # a bad recipe or --align too
    prepare_out(out, config.overwrite, bool(config.resume))
    seed_everything(config.seed, config.deterministic)
    device = torch.device(resolve_device(config.device))
    spec = ModelSpec(arch=config.arch, classes=list(CLASSES), preprocess=preprocess)
    # The model first: a missing hub or a wrong arch fails in a second, not after checking a million files.
    model = build(spec, config.init).to(device)
    if audit is not None:
        config = replace(config, **audit())
    degrade = degrade_for(config)
    index = discover(
        config.data, spec.preprocess, config.seed, config.val_fraction, config.workers,
        max_pixels=config.max_pixels, max_per_class=config.max_per_class,
    )  # fmt: skip
    index.write_report(out, config.audit)
    _log(config, index.found_line())
    _require_both_classes(index)
    train_set, val_set = _datasets(index, spec, config, degrade)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    state = TrainState()
    if config.resume:
        state = load_checkpoint(Path(config.resume), model, optimizer, scaler)
    run = _Run(config, model, optimizer, scaler, device, out)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        train_loss, train_acc = run.train_epoch(train_set, epoch)
        val_loss, val_acc = run.evaluate(val_set)
        row = dict(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        state.history.append(row)
        improved = val_loss < state.best_loss - config.min_delta
        if improved:
            state.best_loss, state.best_epoch, state.bad_epochs = val_loss, epoch, 0
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        save_checkpoint(out / CHECKPOINT_DIR, model, optimizer, scaler, state, improved)
        _log(
            config,
            f"epoch {epoch}/{config.epochs}: train loss {train_loss:.4f} acc {train_acc:.3f} | val loss {val_loss:.4f} "
            f"acc {val_acc:.3f}{' *' if improved else ''}",
        )
        _write_history(out, state.history)
        if state.bad_epochs >= config.patience:
            _log(
                config, f"early stop: val loss has not improved for {config.patience} epochs (best {state.best_epoch})"
            )
            break
    return _finish(config, model, spec, index, val_set, state, device, out, degrade)


def degrade_for(config: TrainConfig, measured: bool = True) -> Degrade:
    """The training images' degradation from ``--augment`` and ``--align`` (refused before anything runs;
    ``measured=False``: the real class's qualities are still to come, from the audit).

    Raises:
        UsageError: a bad recipe; ``--align size`` without ``--resize tiles``; ``--align format`` without the
            real class's JPEG qualities (none of its files is a JPEG, or no audit measured them).
    """
    recipe = recipe_for(config.augment)
    if config.align not in (None, "format", "size"):
        raise UsageError(f"--align must be format or size, got {config.align!r}")
    if config.align == "size" and config.resize != "tiles":
        raise UsageError(
            "--align size trains on windows of the input size at native resolution, as --resize tiles does (and "
            "scans the same way): use it with --resize tiles"
        )
    qualities = tuple(config.align_qualities) if config.align == "format" else ()
    if config.align == "format" and not qualities and measured:
        raise UsageError(
            "--align format draws JPEG qualities from the real class's training files, and none was measured "
            "(no real JPEG in the data, or fit() was called without align_qualities: `synthsight train` measures them)"
        )
    return Degrade(recipe, qualities)


class _Run:
    """One training run's moving parts: model, optimiser, AMP and the loaders' seeding."""

    def __init__(self, config: TrainConfig, model: PixelModel, optimizer, scaler, device: torch.device, out: Path):
        self.config, self.model, self.optimizer, self.scaler = config, model, optimizer, scaler
        self.device, self.out = device, out
        self.criterion = nn.CrossEntropyLoss()
        self.amp = device.type == "cuda"

    def _loader(self, dataset: ImageDataset, shuffle: bool, epoch: int = 0):
        workers = 0 if dataset.cache is not None else _workers(self.config.workers)
        tiled = dataset.spec.resize == "tiles" and dataset.transform is None  # each sample is its tiles
        # A per-epoch seeded generator makes order and flips a function of (seed, epoch): resume repeats them.
        gen = torch.Generator().manual_seed(self.config.seed * 1000 + epoch)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            shuffle=shuffle,
            generator=gen,
            num_workers=workers,
            collate_fn=collate_tiles if tiled else collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            worker_init_fn=_worker_init if workers else None,
        )

    def train_epoch(self, dataset: ImageDataset, epoch: int) -> tuple[float, float]:
        from tqdm import tqdm

        self.model.train()
        dataset.epoch = epoch  # the random windows: a function of (seed, epoch, index)
        flip_gen = torch.Generator().manual_seed(self.config.seed * 1000 + epoch + 1)
        total, loss_sum, correct = 0, 0.0, 0
        bar = tqdm(
            self._loader(dataset, True, epoch),
            desc=f"epoch {epoch}",
            leave=False,
            # Not on a terminal (CI, `make demo | tee`) a bar is carriage-return noise; the epoch lines remain.
            disable=not self.config.progress or not sys.stderr.isatty(),
            unit="batch",
        )
        for pixels, labels in bar:
            if not len(labels):
                continue
            flip = torch.rand(len(labels), generator=flip_gen) < 0.5
            pixels = torch.where(flip.view(-1, 1, 1, 1), pixels.flip(2), pixels)  # NHWC: dim 2 is width
            pixels, labels = pixels.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                logits = self.model(pixels)
                loss = self.criterion(logits.float(), labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total += len(labels)
            loss_sum += float(loss.detach()) * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            bar.set_postfix(loss=f"{loss_sum / total:.4f}", acc=f"{correct / total:.3f}")
        return loss_sum / max(total, 1), correct / max(total, 1)

    @torch.inference_mode()
    def logits(self, dataset: ImageDataset) -> tuple[np.ndarray, np.ndarray]:
        """One logit vector per image (a tiles model: its tiles' aggregate, as the scan makes it) and labels."""
        self.model.eval()
        outs, labels = [], []
        spec = self.model.spec
        for batch in self._loader(dataset, False):
            pixels, y = batch[0], batch[1]
            if not len(y):
                continue
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                out = self.model(pixels.to(self.device)).float().cpu().numpy()
            if len(batch) == 3:
                out = aggregate_all(out, batch[2], spec.preprocess, spec.positive_index)
            outs.append(out)
            labels.append(y.numpy())
        if not outs:
            return np.zeros((0, len(CLASSES)), np.float32), np.zeros((0,), np.int64)
        return np.concatenate(outs), np.concatenate(labels)

    def evaluate(self, dataset: ImageDataset) -> tuple[float, float]:
        logits, labels = self.logits(dataset)
        if not len(labels):
            return math.nan, math.nan
        loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)))
        return loss, float((logits.argmax(1) == labels).mean())


def _finish(
    config, model, spec, index: DataIndex, val_set, state: TrainState, device, out: Path, degrade: Degrade
) -> Path:
    """Restore the best epoch, measure it on validation data, write the bundle and plots."""
    from safetensors.torch import load_file

    from synthsight.train.metrics import compute_metrics

    best = out / CHECKPOINT_DIR / BEST_WEIGHTS
    if best.exists():
        model.net.load_state_dict(load_file(str(best)))
    model = model.to(memory_format=torch.contiguous_format)
    run = _Run(config, model, None, None, device, out)
    logits, labels = run.logits(val_set)
    spec.metrics = compute_metrics(labels, logits, spec, generators=[s.generator for s in val_set.samples])
    spec.metrics.update(best_epoch=state.best_epoch, epochs_run=state.epoch)
    spec.data = {**index.summary(), "train_config": _public_config(config), "augmentation": degrade.describe()}
    if config.audit is not None:
        spec.data["audit_findings"] = [
            {"feature": f["feature"], "auc": f["auc"]} for f in config.audit.get("classifier", {}).get("findings", [])
        ]
    save_bundle(model.cpu(), spec, out)
    _write_history(out, state.history)
    from synthsight.train.plots import plot_history

    plot_history(state.history, out / "history.png")
    m = spec.metrics
    auc = "-" if m.get("roc_auc") is None else f"{m['roc_auc']:.3f}"
    _log(config, f"best epoch {state.best_epoch}: val accuracy {m['accuracy']:.3f}, ROC-AUC {auc} -> {out}")
    if chance_note(m):
        _log(config, f"WARNING: the validation set scores {chance_note(m)}")
    return out


def _datasets(
    index: DataIndex, spec: ModelSpec, config: TrainConfig, degrade: Degrade
) -> tuple[ImageDataset, ImageDataset]:
    train = index.train
    if config.shuffle_labels:
        labels = [s.label for s in train]
        random.Random(config.seed).shuffle(labels)
        train = [type(s)(s.path, lab, s.generator) for s, lab in zip(train, labels, strict=True)]
    transform = RandomTile(spec.preprocess) if spec.preprocess.resize == "tiles" else None
    return (
        ImageDataset(
            train, spec.preprocess, index.cache, config.max_pixels, transform, config.seed,
            degrade if degrade.active else None,
        ),  # fmt: skip
        ImageDataset(index.val, spec.preprocess, index.cache, config.max_pixels),
    )


def _require_both_classes(index: DataIndex) -> None:
    present = {s.label for s in index.train}
    if len(present) < len(CLASSES):
        missing = [c for i, c in enumerate(CLASSES) if i not in present]
        raise UsageError(f"{index.root}: training data has no images of class {missing} (after excluding bad files)")


def _write_history(out: Path, history: list[dict]) -> None:
    if not history:
        return
    (out / "history.json").write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    with open(out / "history.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def _workers(requested: int | None) -> int:
    return requested if requested is not None else min(4, usable_cores())


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def _public_config(config: TrainConfig) -> dict:
    # the audit is in data_report.json, the qualities in spec.data["augmentation"]: not repeated here
    return {k: v for k, v in asdict(config).items() if k not in ("progress", "overwrite", "audit", "align_qualities")}


def _log(config: TrainConfig, message: str) -> None:
    if config.progress:
        from tqdm import tqdm

        tqdm.write(message)
