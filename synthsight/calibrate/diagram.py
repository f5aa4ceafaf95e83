"""The reliability diagram of a calibration: p(ai) against the AI fraction per bin, before and after."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthsight.calibrate import stats


def plot_reliability(
    raw: np.ndarray, calibrated: np.ndarray, is_ai: np.ndarray, path: Path, thresholds: tuple[float, float] | None
) -> Path:
    """Write the diagram (15 bins; the ECE of each curve in its legend; the image count per bin below)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for scores, name, style in ((raw, "raw", "o-"), (calibrated, "calibrated", "s-")):
        bins = [b for b in stats.reliability(scores, is_ai) if b["n"]]
        label = f"{name} (ECE {stats.ece(scores, is_ai):.3f})"
        top.plot([b["mean_score"] for b in bins], [b["positive_fraction"] for b in bins], style, label=label)
    edges = np.linspace(0, 1, stats.ECE_BINS + 1)
    bottom.hist([raw, calibrated], bins=edges, label=["raw", "calibrated"])
    if thresholds is not None:
        for ax in (top, bottom):
            for value in thresholds:
                ax.axvline(value, color="black", linewidth=0.8, linestyle=":")
        top.text(thresholds[1], 0.02, " t_ai", fontsize=8)
        top.text(thresholds[0], 0.95, " t_real", fontsize=8)
    top.set_ylabel("fraction AI-generated")
    top.set_title(f"reliability on {len(raw)} calibration images")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_xlabel("p(ai)")
    bottom.set_ylabel("images")
    bottom.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
