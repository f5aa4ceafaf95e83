"""A training run's checkpoint: every epoch's weights (safetensors) and a tensors-only state file, which
``train --resume`` continues from (loaded with ``weights_only=True``: no pickled code runs).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from synthsight.atomic import Atomic
from synthsight.errors import UsageError

CHECKPOINT_DIR = "checkpoints"
LAST_WEIGHTS, LAST_STATE, BEST_WEIGHTS = "last.safetensors", "last_state.pt", "best.safetensors"


class TrainState:
    """Where a run stands: the epoch done, the best validation loss and when, patience used, the history."""

    def __init__(self) -> None:
        self.epoch = 0
        self.best_loss = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: list[dict] = []


def save_checkpoint(folder: Path, model, optimizer, scaler, state: TrainState, improved: bool) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    save_file(weights, str(folder / LAST_WEIGHTS))
    if improved:
        save_file(weights, str(folder / BEST_WEIGHTS))
    payload = {
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": state.epoch,
        "best_loss": state.best_loss,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "history": state.history,
    }
    with Atomic(folder / LAST_STATE) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, model, optimizer, scaler) -> TrainState:
    """Resume from a checkpoint folder (or its ``last_state.pt``); loads tensors and plain values only."""
    from safetensors.torch import load_file

    folder = path if path.is_dir() else path.parent
    if (folder / CHECKPOINT_DIR).is_dir():
        folder = folder / CHECKPOINT_DIR
    state_file, weights = folder / LAST_STATE, folder / LAST_WEIGHTS
    if not state_file.exists() or not weights.exists():
        raise UsageError(f"no checkpoint to resume in {folder} (expected {LAST_STATE} and {LAST_WEIGHTS})")
    try:
        payload = torch.load(state_file, map_location="cpu", weights_only=True)
        model.net.load_state_dict(load_file(str(weights)))
        optimizer.load_state_dict(payload["optimizer"])
        scaler.load_state_dict(payload["scaler"])
    except Exception as exc:
        raise UsageError(f"cannot resume from {folder}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    state = TrainState()
    state.epoch, state.best_loss = int(payload["epoch"]), float(payload["best_loss"])
    state.best_epoch, state.bad_epochs = int(payload["best_epoch"]), int(payload["bad_epochs"])
    state.history = list(payload["history"])
    return state
