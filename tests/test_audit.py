"""synthsight audit: the shortcut audit finds planted confounds, flags nothing on a clean set, survives bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from synthsight.audit.run import audit
from synthsight.cli import cli
from synthsight.train.synthetic import make_synthetic


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    confounds = (None, "format", "size")
    return {c: make_synthetic(root / (c or "clean"), n=120, size=32, seed=1, confound=c) for c in confounds}


def test_the_planted_format_confound_is_named(sets):
    result = audit(sets["format"])
    assert result.shortcuts["auc"]["format"] >= 0.95
    top = {f["feature"]: f for f in result.findings}
    assert "format" in top
    assert "real 100 % JPEG, ai 100 % PNG" in top["format"]["message"]
    assert "--align format" in top["format"]["message"]


def test_the_format_confound_reals_are_web_jpegs(sets):
    """The real class as camera and web photos are: JPEG 4:2:0 at qualities spread over U(75, 95); ai all PNG."""
    from PIL import JpegImagePlugin

    from synthsight.provenance.jpeg_quality import estimate

    reals = sorted((sets["format"] / "train" / "nature").iterdir())
    qualities = set()
    for path in reals:
        with Image.open(path) as im:
            assert im.format == "JPEG" and JpegImagePlugin.get_sampling(im) == 2  # 4:2:0
            qualities.add(estimate({k: list(v) for k, v in im.quantization.items()})["quality"])
    assert len(qualities) >= 5 and min(qualities) >= 75 and max(qualities) <= 95, qualities
    assert {p.suffix for p in (sets["format"] / "train" / "ai").iterdir()} == {".png"}


def test_the_planted_size_confound_is_named(sets):
    result = audit(sets["size"])
    named = {f["feature"] for f in result.findings}
    assert {"width", "height", "megapixels"} <= named
    assert "format" not in named


def test_the_clean_synthetic_set_flags_nothing(sets):
    result = audit(sets[None])
    assert result.findings == []
    auc = result.shortcuts["auc"]
    # file_size is information only: the checkerboard itself costs bytes (shortcuts.py says why)
    assert all(v <= 0.65 for k, v in auc.items() if k != "file_size"), auc
    assert result.shortcuts["all"] <= 0.65


def test_the_realworld_corpus_shows_its_format_confound(realworld_dir):
    result = audit(realworld_dir)
    assert len(result.files) == 300 and not result.bad
    named = {f["feature"] for f in result.findings}
    assert "format" in named, result.shortcuts["auc"]
    groups = result.summary()["groups"]
    assert groups["train/real"]["format"] == {"JPEG": 1.0}
    assert groups["train/ai"]["format"]["PNG"] > 0.5


def test_command_writes_json_and_one_page_per_split(sets, tmp_path):
    out = CliRunner().invoke(
        cli, ["audit", str(sets["format"]), "--json", str(tmp_path / "a.json"), "--plots", str(tmp_path / "p")]
    )
    assert out.exit_code == 0, out.output
    assert "warning: format separates the classes (AUC 1.00)" in out.output
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["classifier"]["findings"][0]["auc"] >= 0.95
    assert data["files"] == 120 and data["files_per_second"] > 0
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["audit_train.png", "audit_val.png"]


def _jpeg(path, exif: bytes | None = None):
    img = Image.fromarray(np.full((24, 32, 3), 120, np.uint8))
    img.save(path, quality=80, **({"exif": exif} if exif is not None else {}))


def test_bad_inputs_are_listed_and_never_fatal(tmp_path):
    ai = tmp_path / "data" / "ai"
    ai.mkdir(parents=True)
    for i in range(3):
        _jpeg(ai / f"ok{i}.jpg")
    _jpeg(ai / "badexif.jpg", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f")  # an IFD offset far past the block
    whole = (ai / "ok0.jpg").read_bytes()
    (ai / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (ai / "notanimage.png").write_bytes(b"hello")
    out = CliRunner().invoke(cli, ["audit", str(tmp_path / "data"), "--json", str(tmp_path / "a.json")])
    assert out.exit_code == 0, out.output
    assert "no classifier" in out.output  # one class only
    data = json.loads((tmp_path / "a.json").read_text())
    bad = {p["path"].rsplit("/", 1)[1]: p["error"] for p in data["bad_files"]}
    assert set(bad) == {"truncated.jpg", "notanimage.png"}, bad
    assert "truncated" in bad["truncated.jpg"].lower()
    assert data["readable"] == 4  # the bad EXIF file still counts


def test_nothing_readable_is_one_line_exit_2(tmp_path):
    ai = tmp_path / "data" / "ai"
    ai.mkdir(parents=True)
    (ai / "a.jpg").write_bytes(b"\xff\xd8junk")
    (ai / "b.png").write_bytes(b"")
    from synthsight.errors import UsageError

    with pytest.raises(UsageError, match="none of its 2 image files has a readable header"):
        audit(tmp_path / "data")


def test_synth_refuses_a_format_confound_with_jpeg_qualities(tmp_path):
    with pytest.raises(ValueError, match="does not combine"):
        make_synthetic(tmp_path, n=8, size=32, confound="format", jpeg_qualities=(50, 90))
    with pytest.raises(ValueError, match="confound must be one of"):
        make_synthetic(tmp_path, n=8, size=32, confound="colour")
