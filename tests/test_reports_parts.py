"""Part files (what the actors of ``scan --ray`` write): made into reports in listing order, a batch written twice
once, a part not finished not at all; parts a dead driver left go into the reports on ``--resume``, which then
skips their files, and folding them twice never doubles a record."""

from __future__ import annotations

from pathlib import Path

from scanner_support import make_tree, records_by_path

from synthsight.reports.parts import fold, parts_folder, write_part
from synthsight.reports.writers import read_records, writer_for
from synthsight.scanner import scan


def lines_of(records, suffix: str) -> str:
    return writer_for(f"r{suffix}").encode(records)


def _reference(tmp_path: Path, model: str) -> tuple[Path, list]:
    root = tmp_path / "tree"
    make_tree(root, n_images=24)
    ref = tmp_path / "plain.csv"
    scan([str(root)], model, [ref], workers=0, all_files=True, quiet=True)
    return root, read_records(ref)[0]


def test_parts_fold_in_listing_order_a_batch_written_twice_once_an_unfinished_part_not_at_all(tiny_onnx, tmp_path):
    _, records = _reference(tmp_path, str(tiny_onnx["onnx"]))
    folder = tmp_path / "parts"
    write_part(folder, [0], {".csv": lines_of(records[:1], ".csv")})  # the folder is the driver's to make
    assert not folder.exists(), "a part for a folder that is gone (the scan has ended) is dropped"
    folder.mkdir()
    seqs = list(range(len(records)))
    settled, scored = seqs[::3], [s for s in seqs if s % 3]  # the driver's part spans the actors' ones
    for chunk in (scored[8:], scored[:8], scored[4:12]):  # out of order, and one batch run again (cut otherwise)
        write_part(folder, chunk, {".csv": lines_of([records[s] for s in chunk], ".csv")})
    write_part(folder, settled, {".csv": lines_of([records[s] for s in settled], ".csv")})
    (folder / "999999999999.csv").write_text(lines_of(records[:2], ".csv"))  # no .seq: not whole, not read
    out = tmp_path / "folded.csv"
    writer = writer_for(out)(out)
    assert fold(folder, writer, ".csv") == len(records)
    writer.close()
    assert read_records(out)[0] == records


def test_resume_after_a_dead_driver_takes_its_parts_and_skips_their_files(tiny_onnx, tmp_path):
    model = str(tiny_onnx["onnx"])
    root, records = _reference(tmp_path, model)
    out = tmp_path / "r.csv"
    head = records[:5]
    writer = writer_for(out)(out)
    writer.write(head)  # what an earlier run wrote, the first of the dead driver's parts folded already
    writer.close()
    folder = parts_folder(out)
    folder.mkdir()
    for lo, hi in ((0, 6), (6, 14)):  # the parts the driver left: records 0-13
        write_part(folder, list(range(lo, hi)), {".csv": lines_of(records[lo:hi], ".csv")})
    again = scan([str(root)], model, [out], workers=0, all_files=True, quiet=True, resume=True)
    assert sum(again.counts.values()) == len(records) - 14, "the parts' files are not scanned again"
    assert not folder.exists()
    assert list(records_by_path(read_records(out)[0])) == list(records_by_path(records)), "each file once, in order"
