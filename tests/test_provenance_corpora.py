"""Provenance on files nobody here made: the shared real-world and hostile corpora (skipped when absent)."""

from __future__ import annotations

import csv
import time
from collections import Counter

import pytest

from synthsight.provenance import PROVENANCE_CLASSES, ProvenanceReader


@pytest.fixture(scope="module")
def corpus(realworld_dir):
    with open(realworld_dir / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    reader = ProvenanceReader()
    out = []
    for row in rows:
        with open(realworld_dir / row["path"], "rb") as fh:
            out.append((row, reader.read(fh)))
    return out


def test_the_stable_diffusion_2_1_pngs_declare_a1111_parameters(corpus):
    sd21 = [(row, prov) for row, prov in corpus if row["generator"] == "Stable Diffusion 2.1"]
    assert len(sd21) == 6
    for row, prov in sd21:
        assert prov.klass == "ai-declared", (row["path"], prov)
        assert prov.detail["declared"][0]["source"] == "PNG text 'parameters'"
        assert prov.evidence.startswith("A1111/Forge (PNG text 'parameters'): model v2-1_512-ema-pruned, seed ")


def test_the_adm_png_with_a_matplotlib_software_chunk_is_none(corpus):
    adm = [prov for row, prov in corpus if row["path"].endswith("ADM_19_adm_63.PNG")]
    assert len(adm) == 1 and adm[0].klass == "none"
    assert adm[0].evidence == 'software: "Matplotlib version3.5.1, https://matplotlib.org/"'


def test_dall_e_2_downloads_declare_openai(corpus):
    dalle = [prov for row, prov in corpus if row["generator"] == "DALL-E 2"]
    with_marker = [p for p in dalle if p.klass == "ai-declared"]
    assert with_marker and all(p.detail["declared"][0]["tool"] == "OpenAI (DALL-E)" for p in with_marker)


def test_no_real_photo_is_declared_ai_and_every_file_reads_cleanly(corpus):
    classes = Counter(prov.klass for _, prov in corpus)
    assert set(classes) <= set(PROVENANCE_CLASSES)
    real_ai = [row["path"] for row, prov in corpus if row["label"] == "real" and prov.klass.startswith("ai-")]
    assert real_ai == []
    assert [prov.notes for _, prov in corpus if prov.notes] == []


def test_every_hostile_corpus_file_gets_a_result_quickly(badinputs_dir):
    reader = ProvenanceReader()
    files = [p for p in sorted(badinputs_dir.iterdir()) if p.is_file() and p.suffix != ".csv"]
    assert len(files) >= 70
    for path in files:
        with open(path, "rb") as fh:
            t0 = time.perf_counter()
            prov = reader.read(fh)
            assert time.perf_counter() - t0 < 2.0, path.name
        assert prov.klass in PROVENANCE_CLASSES, path.name
