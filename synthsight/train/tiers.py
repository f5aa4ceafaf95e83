"""`eval --tiers`: the same images clean, as a web copy and as a hard copy, made in memory (Sieve's protocol).

- ``clean``: the files as they are;
- ``web``: longer side reduced to at most 768 px, then JPEG at quality 60 (what a social network serves);
- ``hard``: longer side at most 512 px, then JPEG at quality 40 (a copy of a copy).

Each tier reports balanced accuracy and ROC-AUC of the score, and, for a calibrated model, how many images of
each class got each verdict (ai / uncertain / real), the false-accusation and miss rates among them and the
uncertain share: a calibration's bound is about images like its calibration set, and these rows show how far
it carries to degraded copies.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthsight.spec import AI_CLASS, ModelSpec
from synthsight.train.metrics import Perturbation
from synthsight.verdicts.rule import stratum_of


@dataclass(frozen=True)
class Tier:
    name: str
    side: int | None  # longest side of the copy (None: the file as it is)
    quality: int | None


TIERS = (Tier("clean", None, None), Tier("web", 768, 60), Tier("hard", 512, 40))


def copy_of(tier: Tier) -> Perturbation:
    """The in-memory copy a tier makes of a decoded image (reduce, then JPEG)."""

    def apply(im):
        from PIL import Image

        if max(im.size) > tier.side:
            scale = tier.side / max(im.size)
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                           Image.Resampling.BILINEAR)  # fmt: skip
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=tier.quality)
        buf.seek(0)
        with Image.open(buf) as out:
            return out.convert("RGB")

    return Perturbation(f"tier={tier.name}", apply)


def copy_size(tier: Tier, width: int, height: int) -> tuple[int, int]:
    """Stored size of the tier's copy of a ``width`` x ``height`` image."""
    if tier.side is None or max(width, height) <= tier.side:
        return width, height
    scale = tier.side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def tier_metrics(
    tier: Tier, labels: np.ndarray, logits: np.ndarray, spec: ModelSpec, sizes: Sequence[tuple[str, int, int]]
) -> dict:
    """Balanced accuracy and AUC at the model's threshold, plus the calibrated verdicts when there are any.

    ``sizes`` holds each file's (format, width, height) as stored, for its stratum.
    """
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    from synthsight.runtime.base import scores_from_logits

    pos = spec.positive_index
    is_ai = np.asarray(labels) == pos
    scores = scores_from_logits(logits, pos)
    both = bool(is_ai.any() and (~is_ai).any())
    out: dict = {"n": int(len(labels)), "threshold": spec.threshold}
    out["balanced_accuracy"] = float(balanced_accuracy_score(is_ai, scores >= spec.threshold)) if both else None
    out["roc_auc"] = float(roc_auc_score(is_ai, scores)) if both else None
    calibration = spec.calibrated()
    if calibration is None:
        return out
    counts = {c: {"ai": 0, "uncertain": 0, "real": 0} for c in ("ai", "real")}
    for row, ai, (fmt, w, h) in zip(logits, is_ai, sizes, strict=True):
        if tier.name != "clean":
            fmt, (w, h) = "JPEG", copy_size(tier, w, h)
        judged = calibration.judge(row.tolist(), pos, stratum_of(calibration.by, fmt, w, h))
        counts[AI_CLASS if ai else "real"][judged.verdict] += 1
    real, fake = counts["real"], counts[AI_CLASS]
    decided = sum(real[v] + fake[v] for v in ("ai", "real"))
    right = real["real"] + fake["ai"]
    out["verdicts"] = counts  # per true class: how many got each verdict
    out["false_accusation_rate"] = real["ai"] / max(1, sum(real.values()))
    out["miss_rate"] = fake["real"] / max(1, sum(fake.values()))
    out["uncertain_share"] = (real["uncertain"] + fake["uncertain"]) / max(1, len(labels))
    out["decided_accuracy"] = right / decided if decided else None
    return out


def plot_tiers(tiers: dict[str, dict], path) -> None:
    """Balanced accuracy and AUC per tier; with a calibration, the verdict shares per tier and class."""
    from synthsight.train.plots import _pyplot

    plt = _pyplot()
    names = list(tiers)
    calibrated = all("verdicts" in t for t in tiers.values())
    fig, axes = plt.subplots(1, 2 if calibrated else 1, figsize=(10 if calibrated else 5, 4), squeeze=False)
    ax = axes[0][0]
    x = np.arange(len(names))
    for k, key in enumerate(("balanced_accuracy", "roc_auc")):
        ax.bar(x + (k - 0.5) * 0.38, [tiers[n][key] or 0 for n in names], 0.38, label=key.replace("_", " "))
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1)
    ax.legend(loc="lower left")
    ax.set_title("by tier (clean / web / hard)")
    if calibrated:
        ax = axes[0][1]
        labels, bottoms = [f"{n}\n{c}" for n in names for c in ("real", "ai")], np.zeros(2 * len(names))
        for verdict, colour in (("real", "tab:green"), ("uncertain", "tab:orange"), ("ai", "tab:red")):
            shares = [tiers[n]["verdicts"][c][verdict] / max(1, sum(tiers[n]["verdicts"][c].values()))
                      for n in names for c in ("real", "ai")]  # fmt: skip
            ax.bar(labels, shares, bottom=bottoms, color=colour, label=verdict)
            bottoms += shares
        ax.set_title("calibrated verdicts per true class")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
