"""walk: what a scan finds, in which order, and how links, odd files and unreadable folders are reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scanner_support import image_bytes

from synthsight.errors import UsageError
from synthsight.scanner.walk import walk


def _write(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    png = image_bytes("PNG", 8, 8, 0)
    _write(tmp_path / "b.png", png)
    _write(tmp_path / "a.jpg", b"text pretending to be a jpeg")
    _write(tmp_path / "sub" / "c.webp", image_bytes("WEBP", 8, 8, 1))
    _write(tmp_path / "sub" / "renamed.dat", png)
    _write(tmp_path / "notes.txt", b"hello")
    return tmp_path


def rel(root: Path, entries) -> list[tuple[str, str]]:
    return [(os.path.relpath(e.path, root), e.kind) for e in entries]


def test_folders_are_walked_sorted_recursively_with_content_sniffing(tree: Path):
    got = rel(tree, walk([tree]))
    assert got == [("a.jpg", "image"), ("b.png", "image"), ("sub/c.webp", "image"), ("sub/renamed.dat", "image")]
    assert rel(tree, walk([tree], recursive=False)) == [("a.jpg", "image"), ("b.png", "image")]


def test_a_renamed_heif_file_of_any_brand_is_recognised(tmp_path: Path):
    """One list of HEIF brands (formats.py): the walk's sniffer knows heix as the decoder's message does."""
    from synthsight.errors import DecodeError
    from synthsight.image.preprocess import PreprocessSpec, load_image

    path = _write(tmp_path / "photo.dat", b"\x00\x00\x00\x18ftypheix\x00\x00\x00\x00mif1heix" + bytes(64))
    assert rel(tmp_path, walk([tmp_path])) == [("photo.dat", "image")]
    with pytest.raises(DecodeError, match="^unsupported: HEIF/HEIC image"):
        load_image(path, PreprocessSpec(size=32))


def test_non_images_are_skipped_records_when_named_or_asked(tree: Path):
    assert rel(tree, walk([tree / "notes.txt"])) == [("notes.txt", "skipped")]
    got = dict(rel(tree, walk([tree], all_files=True)))
    assert got["notes.txt"] == "skipped"


def test_include_exclude(tree: Path):
    assert rel(tree, walk([tree], include=["*.png", "*.webp"])) == [("b.png", "image"), ("sub/c.webp", "image")]
    assert rel(tree, walk([tree], exclude=["sub"])) == [("a.jpg", "image"), ("b.png", "image")]


def test_missing_root_is_refused_before_scanning(tmp_path: Path):
    with pytest.raises(UsageError, match="no such file"):
        list(walk([tmp_path / "nope"]))


def test_symlinks_not_followed_by_default_and_loops_reported_when_followed(tree: Path):
    os.symlink("..", tree / "sub" / "up")  # a loop back to the root
    os.symlink("b.png", tree / "b-link.png")
    os.symlink("self", tree / "self")  # a link to itself
    plain = dict(rel(tree, walk([tree])))
    assert plain["sub/up"] == plain["b-link.png"] == plain["self"] == "skipped"
    followed = list(walk([tree], follow_symlinks=True))
    got = dict(rel(tree, followed))
    assert got["sub/up"] == "skipped" and "loop" in next(e.message for e in followed if e.path.endswith("up"))
    assert sorted([got["b-link.png"], got["b.png"]]) == ["image", "skipped"]  # one file, scanned once
    assert got["self"] == "error"
    images = [e for e in followed if e.kind == "image"]
    assert len(images) == len({os.path.realpath(e.path) for e in images}) == 4


def test_unreadable_folder_is_an_error_record_not_fatal(tree: Path):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    locked = tree / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        got = dict(rel(tree, walk([tree])))
    finally:
        locked.chmod(0o755)
    assert got["locked"] == "error" and got["b.png"] == "image"


def test_fifo_is_never_opened(tree: Path):
    os.mkfifo(tree / "pipe.png")
    assert "pipe.png" not in dict(rel(tree, walk([tree])))
    assert rel(tree, walk([tree / "pipe.png"])) == [("pipe.png", "skipped")]


def test_non_utf8_names_keep_their_bytes(tmp_path: Path):
    raw = os.fsencode(tmp_path) + b"/\xff\xfe-odd.png"
    with open(raw, "wb") as fh:
        fh.write(image_bytes("PNG", 8, 8, 3))
    (entry,) = walk([tmp_path])
    assert os.fsencode(entry.path) == raw and entry.kind == "image"


def test_deep_tree_does_not_hit_recursion_limit(tmp_path: Path):
    deep = tmp_path
    for _ in range(1050):  # deeper than Python's recursion limit
        deep = deep / "d"
        deep.mkdir()
    _write(deep / "x.png", image_bytes("PNG", 8, 8, 4))
    try:
        (entry,) = walk([tmp_path])
        assert entry.path.endswith("/d/x.png")
    finally:  # shutil.rmtree (pytest's cleanup) recurses per level: remove the chain here
        (deep / "x.png").unlink()
        while deep != tmp_path:
            deep.rmdir()
            deep = deep.parent


def test_a_c2pa_sidecar_is_counted_once_as_a_sidecar_not_as_a_non_image(tree: Path):
    from synthsight.scanner.walk import Walker

    _write(tree / "b.c2pa", b"\x00\x00\x0cmjumb")  # the store beside b.png, read with it by the provenance reader
    walker = Walker([tree])
    assert ("b.c2pa", "image") not in rel(tree, walker)
    assert walker.unrecorded == {"not_image": 1, "c2pa_sidecar": 1}  # notes.txt, b.c2pa
    listed = {os.path.relpath(e.path, tree): e for e in walk([tree], all_files=True)}
    assert listed["b.c2pa"].kind == "skipped" and "C2PA sidecar manifest store" in listed["b.c2pa"].message
