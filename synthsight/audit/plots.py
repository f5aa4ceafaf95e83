"""The audit's pictures (what seed 003's EDA drew): one PNG page per split, per class histograms of width,
height, aspect ratio and JPEG quality, and bars of the formats."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from synthsight.audit.facts import FileFacts

PANELS = (
    ("width", lambda f: f.width),
    ("height", lambda f: f.height),
    ("aspect ratio (w / h)", lambda f: f.aspect),
    ("JPEG quality", lambda f: f.jpeg_quality),
)


def plot_splits(files: list[FileFacts], out_dir: str | Path) -> list[Path]:
    """``audit_<split>.png`` in ``out_dir`` for each split of ``files`` (readable files only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split in sorted({f.split for f in files}):
        members = [f for f in files if f.split == split]
        labels = sorted({f.label for f in members})
        fig, axes = plt.subplots(2, 3, figsize=(13, 7))
        for ax, (title, get) in zip(axes.flat, PANELS, strict=False):
            every = [v for f in members if (v := get(f)) is not None]
            bins = np.histogram_bin_edges(every, bins=30) if every else 30  # shared, so the classes compare
            for label in labels:
                values = [v for f in members if f.label == label and (v := get(f)) is not None]
                if values:
                    ax.hist(values, bins=bins, alpha=0.55, label=f"{label} ({len(values)})")
            ax.set_title(title)
            ax.legend(fontsize=8)
        _formats(axes.flat[4], members, labels)
        axes.flat[5].axis("off")
        fig.suptitle(f"audit: {split} split ({len(members)} files)")
        fig.tight_layout()
        path = out / f"audit_{split}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def _formats(ax, members: list[FileFacts], labels: list[str]) -> None:
    formats = sorted({f.format for f in members})
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        counts = Counter(f.format for f in members if f.label == label)
        total = max(1, sum(counts.values()))
        xs = [j + i * width for j in range(len(formats))]
        ax.bar(xs, [100 * counts[fmt] / total for fmt in formats], width, label=label)
    ax.set_xticks([j + width * (len(labels) - 1) / 2 for j in range(len(formats))], formats)
    ax.set_ylabel("% of the class")
    ax.set_title("file format")
    ax.legend(fontsize=8)
