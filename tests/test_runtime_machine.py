"""The two machine facts every backend and training share: what --device means, and how many CPUs we may use."""

from __future__ import annotations

import pytest

from synthsight.errors import UsageError
from synthsight.machine import Device, parse_device, usable_cores


@pytest.mark.parametrize(
    "text, device",
    [(None, Device("auto")), ("", Device("auto")), ("CPU", Device("cpu")), ("cuda", Device("cuda")),
     ("cuda:3", Device("cuda", 3)), (" cuda:0 ", Device("cuda", 0))],
)  # fmt: skip
def test_device_strings_parse_once(text, device):
    assert parse_device(text) == device


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:-1", "cuda:a", "mps", "cpu:0"])
def test_bad_device_strings_are_one_clear_line(text):
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
        parse_device(text)


def _cgroup(tmp_path, own: str, files: dict[str, str]):
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::{own}\n")
    return root, proc


def test_a_cgroup_v2_quota_caps_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)), raising=False)
    root, proc = _cgroup(tmp_path, "/job/step", {"cpu.max": "max 100000\n", "job/cpu.max": "250000 100000\n",
                                                   "job/step/cpu.max": "max 100000\n"})  # fmt: skip
    assert usable_cores(root, proc) == 2  # 2.5 CPUs of quota on the job's cgroup, rounded down


def test_a_cgroup_v1_quota_and_no_quota(tmp_path, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)), raising=False)
    root, proc = _cgroup(tmp_path, "/", {"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert usable_cores(root, proc) == 1  # half a CPU still gets one
    root, proc = _cgroup(tmp_path / "free", "/", {"cpu.max": "max 100000\n"})
    assert usable_cores(root, proc) == 64


def test_the_affinity_mask_counts_not_the_host(tmp_path, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {5, 7, 9}, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 128)
    assert usable_cores(tmp_path / "none", tmp_path / "none") == 3
