"""The one atomic write (synthsight/atomic.py): a reader sees the old file or the new one, and nothing is left over."""

from __future__ import annotations

import pytest

from synthsight.atomic import Atomic, write_atomic


def test_a_write_replaces_the_target_whole_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    write_atomic(target, "new")
    write_atomic(tmp_path / "blob.bin", b"\x00\x01")
    assert target.read_text() == "new" and (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin", "report.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = tmp_path / "model.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), Atomic(target) as tmp:
        tmp.write_text("half")
        assert tmp.name.startswith(".model.json.") and tmp.parent == tmp_path
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.json"]
    with pytest.raises(OSError):
        write_atomic(tmp_path / "no-such-folder" / "x", "y")
