"""`synthsight merge` at scale: an external merge (sorted runs on disk, bounded memory, whatever the order of the
shards), lines copied unchanged or converted, and shards refused that lost records or hold another shard's files."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from scanner_support import image_bytes

from synthsight.errors import UsageError
from synthsight.reports import runs as runs_mod
from synthsight.reports.manifest import write_manifest
from synthsight.reports.merge import merge
from synthsight.reports.runs import Spill
from synthsight.reports.shard import relative_key, shard_of
from synthsight.reports.writers import CsvWriter, JsonlWriter, Record, read_records
from synthsight.scanner import scan

pytest_plugins = ["scanner_fixtures"]
ROOT = "/archive"


def synthetic(i: int) -> Record:
    """A record of a file that need not exist: merge reads reports and manifests, never the files."""
    path = f"{ROOT}/d{i // 50:03d}/{'=' if i % 97 == 0 else ''}img, {i:05d}.jpg"  # commas and formulas in names
    return Record(path, "ai" if i % 3 else "real", sha256=f"{i:064x}", bytes=1000 + i, format="JPEG", width=40,
                  height=30, mtime="2026-01-01T00:00:00.000000Z", score=(i % 100) / 100,
                  notes="a, quoted \"note\"" * (i % 2), provenance_detail={"i": i} if i % 5 == 0 else None)  # fmt: skip


def shard_files(folder: Path, n: int, count: int, suffix: str = ".jsonl", shuffle: bool = True) -> list[Path]:
    """``count`` synthetic records in ``n`` shard reports (walk shards of ROOT), each shard's lines shuffled."""
    shards: list[list[Record]] = [[] for _ in range(n)]
    for i in range(count):
        r = synthetic(i)
        shards[shard_of(relative_key(ROOT, r.path), n)].append(r)
    rng = random.Random(7)
    outs = []
    for k, records in enumerate(shards):
        if shuffle:
            rng.shuffle(records)
        out = folder / f"s{k}{suffix}"
        writer = (CsvWriter if suffix == ".csv" else JsonlWriter)(out)
        writer.write(records)
        writer.close()
        write_manifest(out, manifest_of(k, n, len(records)), [])
        outs.append(out)
    return outs


def manifest_of(k: int, n: int, records: int) -> dict:
    return {
        "tool": "synthsight", "status": "complete", "model": {"sha256": "0" * 64}, "threshold": 0.5,
        "classes": ["ai", "real"], "preprocess": {"size": 64}, "hash": "sha256", "source": {"roots": [ROOT]},
        "shard": {"index": k, "count": n}, "counts": {}, "report_records": records, "resumed": False,
    }  # fmt: skip


def walk_order(count: int) -> list[str]:
    return sorted((synthetic(i).path for i in range(count)), key=lambda p: tuple(os.fsencode(p).split(b"/")))


@pytest.mark.parametrize(
    "suffix,target", [(".jsonl", ".jsonl"), (".csv", ".csv"), (".jsonl", ".csv"), (".csv", ".json")]
)
def test_shuffled_shards_merge_in_walk_order_through_spilled_runs(tmp_path, monkeypatch, suffix, target):
    monkeypatch.setattr(runs_mod, "RUN_ITEMS", 37)  # many runs per shard, merged in several passes of 4
    monkeypatch.setattr(runs_mod, "FAN_IN", 4)
    outs = shard_files(tmp_path, 5, 1200, suffix)
    summary = merge(tmp_path / f"m{target}", outs)
    got = read_records(tmp_path / f"m{target}")[0]
    assert [r.path for r in got] == walk_order(1200) and summary.twice == 0
    want = {r.path: r for r in map(synthetic, range(1200))}
    for r in got:
        w = want[r.path]
        assert (r.verdict, r.sha256, r.bytes, r.notes, r.width) == (w.verdict, w.sha256, w.bytes, w.notes, w.width)
        if target != ".csv" and suffix != ".csv":
            assert r.provenance_detail == w.provenance_detail, "JSON lines pass through whole"
    assert summary.counts["ai"] == sum(r.verdict == "ai" for r in want.values())
    assert not [p for p in tmp_path.iterdir() if ".merge" in p.name], "the spill folder and temporary file are gone"
    manifest = (
        json.loads((tmp_path / f"m{target}").read_text())["manifest"]
        if target == ".json"
        else json.loads((tmp_path / f"m{target}.manifest.json").read_text())
    )
    assert manifest["report_records"] == 1200


def test_runs_are_merged_stably_in_bounded_chunks(tmp_path):
    rng = random.Random(3)
    items = [(rng.randrange(200), i) for i in range(5000)]
    sorted_part = sorted(rng.randrange(1000) for _ in range(300))
    with Spill(tmp_path / "out.csv", run_items=100, fan_in=3) as spill:
        runs = spill.spill(items)
        assert len(runs) == 50 and all(r.count == 100 for r in runs)
        runs += spill.runs(((k, -1) for k in sorted_part), lambda n: ((k, -1) for k in sorted_part[:n]))
        merged = list(spill.merged(runs))
        folder = spill.folder
    assert merged == sorted(items + [(k, -1) for k in sorted_part], key=lambda kv: kv[0]), "stable, complete"
    assert folder is not None and not folder.exists()


def test_disjoint_runs_are_chained_not_merged(tmp_path):
    opened: list[int] = []

    def run(lo: int) -> runs_mod.Run:
        def read():
            opened.append(lo)
            yield from ((k,) for k in range(lo, lo + 10))

        return runs_mod.Run(read, lo, lo + 9, 10)

    with Spill(tmp_path / "o.csv") as spill:
        stream = spill.merged([run(30), run(0), run(10), run(20)])
        assert next(stream) == (0,) and opened == [0], "one chain: only its first run is open"
        assert [k for (k,) in stream] == list(range(1, 40))


def test_merge_refuses_a_shard_that_lost_or_gained_records(tmp_path):
    outs = shard_files(tmp_path, 3, 300)
    lines = outs[1].read_bytes().splitlines(keepends=True)
    outs[1].write_bytes(b"".join(lines[:-50]))
    with pytest.raises(UsageError, match=r"shard 1/3 \(.*s1.jsonl\) holds \d+ records but its manifest counts \d+"):
        merge(tmp_path / "m.csv", outs)
    outs[1].write_bytes(b"".join(lines + lines[:1]))
    with pytest.raises(UsageError, match=r"shard 1/3 .* holds \d+ records but its manifest counts"):
        merge(tmp_path / "m.csv", outs)
    assert not (tmp_path / "m.csv").exists()


def test_merge_refuses_a_shard_holding_another_shards_files(tmp_path):
    outs = shard_files(tmp_path, 3, 300)
    other = outs[2].read_bytes()
    outs[0].write_bytes(other)  # shard 2's records under shard 0's manifest (a report copied over another)
    write_manifest(outs[0], manifest_of(0, 3, other.count(b"\n")), [])
    with pytest.raises(UsageError, match=r"shard 0/3 \(.*s0.jsonl\) holds '/archive/.*', a file of shard 2/3"):
        merge(tmp_path / "m.jsonl", outs)


def test_files_from_shards_are_checked_and_merged_in_byte_order(tmp_path, backend, monkeypatch):
    folder = tmp_path / "imgs"
    folder.mkdir()
    names = [f"{i:02d}.png" for i in range(30)]
    for i, name in enumerate(names):
        (folder / name).write_bytes(image_bytes("PNG", 16, 16, i))
    monkeypatch.chdir(tmp_path)
    listed = [f"imgs/{n}" for n in names]
    random.Random(1).shuffle(listed)
    (tmp_path / "list.txt").write_text("\n".join(listed) + "\n")
    outs = [tmp_path / f"s{k}.csv" for k in range(3)]
    for k, out in enumerate(outs):
        scan([], backend, [out], files_from="list.txt", shard=f"{k}/3", workers=0, quiet=True)
    keys = json.loads(Path(f"{outs[0]}.manifest.json").read_text())["shard_keys"]
    assert keys["listed"] == "relative" and keys["cwd"] == str(tmp_path)
    merge(tmp_path / "m.csv", outs)
    assert [Path(r.path).name for r in read_records(tmp_path / "m.csv")[0]] == names
    theirs = outs[1].read_text().splitlines(keepends=True)[1:]
    outs[0].write_text(outs[0].read_text() + theirs[0])
    manifest = json.loads(Path(f"{outs[0]}.manifest.json").read_text())
    write_manifest(outs[0], {**manifest, "report_records": manifest["report_records"] + 1}, [])
    with pytest.raises(UsageError, match=r"a file of shard 1/3"):
        merge(tmp_path / "m2.csv", outs)


def test_a_resumed_shard_counts_its_earlier_records_and_merges(tmp_path, backend):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(12):
        (tree / f"{i:02d}.png").write_bytes(image_bytes("PNG", 16, 16, i))
    outs = [tmp_path / f"s{k}.csv" for k in range(2)]
    for k, out in enumerate(outs):
        scan([str(tree)], backend, [out], shard=f"{k}/2", workers=0, quiet=True)
    for i in range(12, 20):  # files added, then every shard resumed: the new ones are appended
        (tree / f"{i:02d}.png").write_bytes(image_bytes("PNG", 16, 16, i))
    for k, out in enumerate(outs):
        scan([str(tree)], backend, [out], shard=f"{k}/2", workers=0, quiet=True, resume=True)
    manifests = [json.loads(Path(f"{o}.manifest.json").read_text()) for o in outs]
    assert [m["report_records"] for m in manifests] == [len(read_records(o)[0]) for o in outs]
    assert sum(m["report_records"] for m in manifests) == 20 and all(m["resumed"] for m in manifests)
    merge(tmp_path / "m.jsonl", outs)
    assert [Path(r.path).name for r in read_records(tmp_path / "m.jsonl")[0]] == [f"{i:02d}.png" for i in range(20)]
