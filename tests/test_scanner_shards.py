"""Job arrays: --shard K/N partitions a scan exactly, `synthsight merge` rebuilds the unsharded report in walk
order and refuses shards that do not belong together; --files-from scans an inventory (NUL-separated too)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from scanner_support import image_bytes, make_tree

from synthsight.errors import UsageError
from synthsight.reports.merge import merge
from synthsight.reports.shard import Shard, listed_key, relative_key
from synthsight.reports.writers import read_records
from synthsight.scanner import scan
from synthsight.scanner.inventory import read_list

pytest_plugins = ["scanner_fixtures"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Good images of six formats, broken and non-image files, nasty names and a symlink loop."""
    root = tmp_path_factory.mktemp("mixed")
    make_tree(root, n_images=60)
    return root


@pytest.fixture(scope="module")
def whole(mixed, backend, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "whole.csv"
    scan([str(mixed)], backend, [out], workers=1, batch_size=8, all_files=True, quiet=True)
    return out


def shard_reports(root: Path, backend, folder: Path, n: int = 3, suffix: str = ".csv", **options) -> list[Path]:
    outs = [folder / f"shard{k}{suffix}" for k in range(n)]
    for k, out in enumerate(outs):
        scan([str(root)], backend, [out], workers=1, batch_size=8, shard=f"{k}/{n}", quiet=True, **options)
    return outs


def fields(r) -> tuple:
    return (r.path, r.verdict, r.sha256, r.bytes, r.mtime, r.format, r.width, r.height, r.error, r.notes)


def assert_same_report(got: list, want: list) -> None:
    assert [fields(r) for r in got] == [fields(r) for r in want], "the same records, in the same order"
    for a, b in zip(got, want, strict=True):
        assert (a.score is None) == (b.score is None) and (a.score is None or abs(a.score - b.score) < 1e-5)


def test_three_shards_are_disjoint_cover_the_walk_and_merge_to_the_unsharded_report(mixed, whole, backend, tmp_path):
    reference = read_records(whole)[0]
    assert {r.verdict for r in reference} == {"ai", "real", "error", "skipped"}
    assert any("symbolic link" in r.error for r in reference), "the loop is in the tree"
    outs = shard_reports(mixed, backend, tmp_path, all_files=True)
    per_shard = [read_records(o)[0] for o in outs]
    paths = [{r.path for r in recs} for recs in per_shard]
    assert all(paths) and not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2]), "disjoint"
    union = {r.path: r for recs in per_shard for r in recs}
    assert set(union) == {r.path for r in reference} and sum(map(len, per_shard)) == len(reference)
    for r in reference:
        assert fields(union[r.path]) == fields(r)
    for k, out in enumerate(outs):
        manifest = json.loads(Path(f"{out}.manifest.json").read_text())
        assert manifest["shard"] == {"index": k, "count": 3}
    for suffix in (".csv", ".jsonl", ".json"):
        merged = tmp_path / f"merged{suffix}"
        summary = merge(merged, outs)
        assert summary.twice == 0 and sum(summary.counts.values()) == len(reference)
        assert_same_report(read_records(merged)[0], reference)
    manifest = json.loads((tmp_path / "merged.csv.manifest.json").read_text())
    assert [s["index"] for s in manifest["merged"]["shards"]] == [0, 1, 2]
    assert manifest["shard"] is None and manifest["counts"] == summary.counts
    assert manifest["walked"]["records"] == len(reference)


def test_a_shard_out_of_walk_order_still_merges_in_walk_order(mixed, whole, backend, tmp_path):
    outs = shard_reports(mixed, backend, tmp_path, n=2, suffix=".jsonl", all_files=True)
    lines = outs[1].read_text(encoding="utf-8").splitlines(keepends=True)
    outs[1].write_text("".join(reversed(lines)), encoding="utf-8")  # as after files were added, then --resume
    merge(tmp_path / "merged.csv", outs)
    assert_same_report(read_records(tmp_path / "merged.csv")[0], read_records(whole)[0])


def test_merge_refuses_other_models_missing_and_repeated_shards(mixed, tiny_onnx, tmp_path):
    outs = [tmp_path / f"s{k}.jsonl" for k in range(3)]
    for k, model in enumerate(["onnx", "onnx", "fp16"]):
        scan([str(mixed / "d1")], str(tiny_onnx[model]), [outs[k]], workers=0, shard=f"{k}/3", quiet=True)
    with pytest.raises(UsageError, match=r"s2.jsonl does not belong with .*s0.jsonl: it differs in model sha256"):
        merge(tmp_path / "m.csv", outs)
    with pytest.raises(UsageError, match=r"missing 1 of 3 shards: 2/3"):
        merge(tmp_path / "m.csv", outs[:2])
    with pytest.raises(UsageError, match=r"shards given more than once: shard 1/3: .*s1.jsonl, .*s1.jsonl"):
        merge(tmp_path / "m.csv", [outs[0], outs[1], outs[1]])
    other_n = tmp_path / "n2.jsonl"
    scan([str(mixed / "d1")], str(tiny_onnx["onnx"]), [other_n], workers=0, shard="1/2", quiet=True)
    with pytest.raises(UsageError, match=r"differs in N of --shard K/N"):
        merge(tmp_path / "m.csv", [outs[0], other_n])
    model = str(tiny_onnx["onnx"])
    scan([str(mixed / "d1")], model, [outs[2]], workers=0, shard="2/3", quiet=True, overwrite=True, threshold=0.2)
    with pytest.raises(UsageError, match=r"it differs in threshold"):
        merge(tmp_path / "m.csv", outs)
    assert not (tmp_path / "m.csv").exists(), "a refused merge writes nothing"


def test_resume_refuses_another_shard(mixed, tiny_onnx, tmp_path):
    out = tmp_path / "s.csv"
    scan([str(mixed / "d2")], str(tiny_onnx["onnx"]), [out], workers=0, shard="0/3", quiet=True)
    with pytest.raises(UsageError, match=r"differs in shard"):
        scan([str(mixed / "d2")], str(tiny_onnx["onnx"]), [out], workers=0, shard="0/2", quiet=True, resume=True)
    scan([str(mixed / "d2")], str(tiny_onnx["onnx"]), [out], workers=0, shard="0/3", quiet=True, resume=True)


def test_a_walk_shard_lstats_only_its_own_files(mixed, monkeypatch):
    """N walk-based shards must not each lstat the whole archive: another shard's plain file is known from the
    folder listing and passed over (item 9); the shards still partition the unsharded walk exactly."""
    from synthsight.scanner.walk import Walker

    everything = [e.path for e in Walker([str(mixed)], all_files=True)]
    real_lstat, looked = os.lstat, []
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: looked.append(os.fspath(p)) or real_lstat(p, *a, **k))
    shards = []
    for k in range(4):
        looked.clear()
        walker = Walker([str(mixed)], shard=Shard(k, 4), all_files=True)
        shards.append([e.path for e in walker])
        seen = list(looked)  # (islink below calls lstat too)
        plain = [p for p in seen if os.path.isfile(p) and not os.path.islink(p)]
        assert plain and all(walker._owns(p) for p in plain), f"shard {k}/4 lstat'ed another shard's file"
    assert sorted(p for s in shards for p in s) == sorted(everything)


def test_shard_keys_are_stable_relative_bytes():
    assert Shard.parse("2/5") == Shard(2, 5) and str(Shard(2, 5)) == "2/5"
    for bad in ("5/5", "-1/3", "1", "a/b", "0/0"):
        with pytest.raises(UsageError, match="expected K/N"):
            Shard.parse(bad)
    # Where the archive is mounted does not move a file to another shard.
    assert relative_key("/mnt/a", "/mnt/a/x/y.jpg") == relative_key("/srv/arch", "/srv/arch/x/y.jpg") == b"x/y.jpg"
    assert relative_key("/", "/x.jpg") == b"x.jpg" and relative_key("/d/f.png", "/d/f.png") == b"f.png"
    assert listed_key("././a/b.jpg") == listed_key("a/b.jpg") == b"a/b.jpg"
    owners = [sum(Shard(k, 4).owns(f"{i}.jpg".encode()) for k in range(4)) for i in range(1000)]
    assert owners == [1] * 1000, "every key is in exactly one shard"
    counts = [sum(Shard(k, 4).owns(f"{i}.jpg".encode()) for i in range(1000)) for k in range(4)]
    assert min(counts) > 200, f"shards are balanced: {counts}"


def test_files_from_nul_separated_names_with_newlines_scans_exactly_those(tmp_path, backend):
    folder = tmp_path / "images"
    folder.mkdir()
    names = [b"new\nline.png", b"two\n\nnewlines.jpg", b"plain.png", b"not-listed.png", b"\xff-latin.png"]
    for i, name in enumerate(names):
        with open(os.fsencode(folder) + b"/" + name, "wb") as fh:
            fh.write(image_bytes("PNG" if name.endswith(b".png") else "JPEG", 20 + i, 20, i))
    listed = [n for n in names if n != b"not-listed.png"]
    inventory = tmp_path / "list.bin"
    inventory.write_bytes(b"".join(os.fsencode(folder) + b"/" + n + b"\0" for n in listed))
    out = tmp_path / "r.jsonl"
    summary = scan([], backend, [out], files_from=str(inventory), null=True, workers=1, quiet=True)
    recs = read_records(out)[0]
    assert [os.fsencode(r.path) for r in recs] == [os.fsencode(folder) + b"/" + n for n in listed], "list order"
    assert all(r.verdict in ("ai", "real") for r in recs) and summary.counts["error"] == 0
    manifest = json.loads((tmp_path / "r.jsonl.manifest.json").read_text())
    assert manifest["source"]["files_from"] == str(inventory) and manifest["source"]["null"] is True


def test_files_from_lines_follow_the_named_path_rules(tmp_path, backend, monkeypatch):
    (tmp_path / "a.png").write_bytes(image_bytes("PNG", 30, 30, 1))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "inside.png").write_bytes(image_bytes("PNG", 30, 30, 2))
    os.symlink("gone.png", tmp_path / "dangling.png")
    monkeypatch.chdir(tmp_path)
    listing = "a.png\n\nmissing.jpg\nnotes.txt\nfolder\ndangling.png\n./a.png\n"
    (tmp_path / "list.txt").write_text(listing)
    out = tmp_path / "r.csv"
    summary = scan([], backend, [out], files_from="list.txt", workers=0, quiet=True)
    recs = [(Path(r.path).name, r.verdict, r.error) for r in read_records(out)[0]]
    assert [(n, v) for n, v, _ in recs] == [
        ("a.png", recs[0][1]),
        ("missing.jpg", "error"),
        ("notes.txt", "skipped"),
        ("dangling.png", "error"),
        ("a.png", recs[0][1]),
    ]
    assert recs[0][1] in ("ai", "real") and recs[1][2].startswith("missing: listed in --files-from")
    assert recs[3][2] == "broken symbolic link"
    assert summary.walked["listed_folder"] == 1 and "1 folders named in --files-from" in summary.line
    with pytest.raises(UsageError, match="not both"):
        scan([str(tmp_path)], backend, [], files_from="list.txt", quiet=True)
    with pytest.raises(UsageError, match="--files-from nope.txt"):
        scan([], backend, [], files_from="nope.txt", quiet=True)
    with pytest.raises(UsageError, match="--null describes"):
        scan([str(tmp_path)], backend, [], null=True, quiet=True)


def test_files_from_shards_partition_the_list(tmp_path, backend):
    for i in range(24):
        (tmp_path / f"{i:02d}.png").write_bytes(image_bytes("PNG", 16, 16, i))
    (tmp_path / "list.txt").write_text("".join(f"{tmp_path}/{i:02d}.png\n" for i in range(24)))
    outs = []
    for k in range(3):
        outs.append(tmp_path / f"s{k}.jsonl")
        scan([], backend, [outs[-1]], files_from=str(tmp_path / "list.txt"), shard=f"{k}/3", workers=0, quiet=True)
    merge(tmp_path / "all.csv", outs)
    assert [Path(r.path).name for r in read_records(tmp_path / "all.csv")[0]] == [f"{i:02d}.png" for i in range(24)]


def test_read_list_streams_any_separator_and_chunk_boundary():
    data = b"a\0b\nc\0" + b"x" * (3 << 20) + b"\0\0last"
    assert list(read_list(io.BytesIO(data), null=True)) == ["a", "b\nc", "x" * (3 << 20), "last"]
    assert list(read_list(io.BytesIO(b"one\ntwo\n\nthree"))) == ["one", "two", "three"]


def test_shards_agree_on_the_first_visit_of_files_reached_through_links(tmp_path, backend):
    root = tmp_path / "tree"
    for i in range(12):
        (root / "a" / f"s{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / "a" / f"s{i % 3}" / f"{i:02d}.png").write_bytes(image_bytes("PNG", 16, 16, i))
    os.symlink("a", root / "b-link-to-a")
    for i in range(12):
        os.symlink(f"a/s{i % 3}/{i:02d}.png", root / f"c{i:02d}.png")
    whole = tmp_path / "whole.csv"
    scan([str(root)], backend, [whole], workers=0, follow_symlinks=True, quiet=True)
    reference = read_records(whole)[0]
    assert sum("same file as" in r.error for r in reference) == 12
    outs = shard_reports(root, backend, tmp_path, n=3, follow_symlinks=True)
    merge(tmp_path / "merged.csv", outs)
    assert_same_report(read_records(tmp_path / "merged.csv")[0], reference)


def test_merge_command_refuses_with_one_line_and_exit_2_then_merges(mixed, tiny_onnx, tmp_path):
    import subprocess
    import sys

    outs = [tmp_path / f"s{k}.csv" for k in range(2)]
    for k, out in enumerate(outs):
        scan([str(mixed / "d4")], str(tiny_onnx["onnx"]), [out], workers=0, shard=f"{k}/2", quiet=True)
    repo = Path(__file__).resolve().parents[1]

    def merge_cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "synthsight", "merge", *args]
        return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=120)

    refused = merge_cli(str(tmp_path / "m.jsonl"), str(outs[1]))
    assert refused.returncode == 2 and refused.stderr.strip() == "error: merge: missing 1 of 2 shards: 0/2"
    done = merge_cli(str(tmp_path / "m.jsonl"), *map(str, outs))
    assert done.returncode == 0 and done.stderr.startswith("merged 2 shards: "), done.stderr
    manifest = json.loads((tmp_path / "m.jsonl.manifest.json").read_text())
    assert manifest["command_line"].startswith("synthsight merge ") and len(manifest["merged"]["shards"]) == 2
