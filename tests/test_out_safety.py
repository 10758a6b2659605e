"""--out and Results.save keep every file flsim did not write: a folder is replaced only where
flsim demonstrably wrote it, and the checks come before any compute. Staging folders belong to a writer
as long as it holds their lock."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import flsim
from flsim import atomic
from flsim.cli import main
from flsim.results import DestinationError, check_destination
from tests.conftest import TINY

TINY_ARGS = [f"{k}={v}" for k, v in TINY.items()]


@pytest.fixture
def no_run(monkeypatch):
    """The CLI's run fails the test: every refusal here comes before any compute."""
    monkeypatch.setattr("flsim.cli.run", lambda *a, **k: pytest.fail("ran before refusing --out"))


@pytest.fixture
def saved(tmp_path):
    """An flsim result as flsim writes it (no run needed: a table by hand)."""
    results = flsim.Results(flsim.Config(**TINY), {"rounds": pd.DataFrame({"round": [0, 1]})})
    return results, results.save(tmp_path / "run")


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def refused(capsys, folder: Path, *words) -> None:
    before = snapshot(folder) if folder.is_dir() else None
    assert main(["run", *TINY_ARGS, "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(folder) in err, err
    for word in words:
        assert word in err, err
    if before is not None:
        assert snapshot(folder) == before


def test_another_tools_config_json_is_not_taken_for_flsims(tmp_path, capsys, no_run):
    """The issue's case: the keys flsim's config has, and a checksum of the user's own file."""
    folder = tmp_path / "other_tool"
    folder.mkdir()
    (folder / "notes.parquet").write_bytes(b"the user's table")
    digest = hashlib.sha256(b"the user's table").hexdigest()
    record = dict(config=dict(dataset="fashion_mnist", num_clients=10, malicious_data_rate=10, theme="dark"),
                  checksums={"notes.parquet": digest})
    (folder / "config.json").write_text(json.dumps(record))
    refused(capsys, folder, "no config.json that flsim wrote", "no flsim_version and no source_hash")


def test_a_result_changed_since_flsim_wrote_it_is_kept(saved, capsys, no_run):
    _, folder = saved
    (folder / "rounds.parquet").write_bytes(b"edited by hand")
    refused(capsys, folder, "rounds.parquet", "changed since flsim wrote it")


@pytest.mark.parametrize("change, words", [
    (lambda d: (d / "rounds.parquet").unlink(), ["rounds.parquet", "missing"]),
    (lambda d: (d / "plots").mkdir(), ["plots", "did not write"]),
    (lambda d: (d / "notes.txt").write_text("mine"), ["notes.txt", "did not write"]),
    (lambda d: (d / "config.json").write_text(json.dumps(
        {**json.loads((d / "config.json").read_text()), "checksums": {"../notes.parquet": "0" * 64}})),
     ["no config.json that flsim wrote", "files flsim does not write"]),
])
def test_anything_but_an_intact_flsim_result_is_refused(saved, capsys, no_run, change, words):
    _, folder = saved
    change(folder)
    refused(capsys, folder, *words)


def test_an_intact_flsim_result_is_replaced(saved):
    results, folder = saved
    check_destination(folder)  # nothing raised
    flsim.Results(results.config.replace(seed=1), results.tables).save(folder)
    assert flsim.Results.load(folder).config.seed == 1


def test_a_symbolic_link_is_refused_and_its_target_kept(saved, tmp_path, capsys, no_run):
    _, folder = saved
    link = tmp_path / "link"
    link.symlink_to(folder)
    before = snapshot(folder)
    refused(capsys, link, "is a symbolic link")
    assert snapshot(folder) == before and link.is_symlink()


def test_a_file_in_the_path_and_a_broken_link_are_refused(tmp_path, capsys, no_run):
    (tmp_path / "notes.txt").write_text("mine")
    refused(capsys, tmp_path / "notes.txt" / "run", "notes.txt is a file")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    refused(capsys, tmp_path / "gone" / "run", "broken symbolic link")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_unwritable_parent_is_refused(tmp_path, capsys, no_run, monkeypatch):
    parent = tmp_path / "readonly"
    parent.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == parent else real(p, mode))
    refused(capsys, parent / "a" / "run", f"{parent} is not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any directory")
def test_an_unwritable_parent_is_refused_for_real(tmp_path, capsys, no_run):
    parent = tmp_path / "readonly"
    parent.mkdir(mode=0o500)
    refused(capsys, parent / "run", "is not writable")


def test_an_empty_out_is_the_working_directory(tmp_path, capsys, no_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", *TINY_ARGS, "--out", ""]) == 2
    assert "working directory" in capsys.readouterr().err


def test_save_takes_a_path():
    with pytest.raises(TypeError, match="must be a path"):
        flsim.Results(flsim.Config(**TINY), {}).save(None)


# A writer in another process: it holds a staging folder (and its lock) until its stdin closes.
WRITER = """
import importlib.util, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("atomic", sys.argv[1])
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)
with atomic.staging(Path(sys.argv[2])) as folder:
    print(folder, flush=True)
    sys.stdin.read()
"""


def test_a_live_writers_staging_is_kept_and_a_killed_ones_removed(tmp_path):
    """Liveness is the writer's flock, not its host name and pid (a writer in another pid namespace on
    the same host looked dead by its pid): held while it runs, free the moment it is killed."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, atomic.__file__, str(tmp_path / "run")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        folder = Path(writer.stdout.readline().strip())
        assert folder.is_dir() and "~staging~" in folder.name
        atomic.clean_abandoned(tmp_path)
        assert folder.is_dir()  # alive: its lock is held
    finally:
        writer.kill()
        writer.wait()
    atomic.clean_abandoned(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_opening_folder_is_left_alone_until_it_is_old(tmp_path):
    opening = tmp_path / ".run~opening~0000"
    opening.mkdir()
    atomic.clean_abandoned(tmp_path)
    assert opening.exists()  # a writer may be about to lock it
    old = time.time() - atomic.STALE_SECONDS - 60
    os.utime(opening, (old, old))
    atomic.clean_abandoned(tmp_path)
    assert not opening.exists()


# A writer that replaces one result again and again, 50 times a second (no compute: the same tables
# under two seeds).
REPLACER = """
import sys, time
import flsim
results = flsim.Results.load(sys.argv[1])
print("ready", flush=True)
for i in range(int(sys.argv[2])):
    flsim.Results(results.config.replace(seed=i % 2), results.tables).save(sys.argv[1])
    time.sleep(0.02)
"""


def test_a_reader_always_finds_a_complete_result_while_it_is_replaced(saved):
    """The replacement is one exchange: a reader running beside the writer never finds the folder
    missing or mixed, and a writer killed at any moment leaves a complete result."""
    _, folder = saved
    writer = subprocess.Popen([sys.executable, "-c", REPLACER, str(folder), "100000"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout.readline() == "ready\n"
        seeds, start = set(), time.perf_counter()
        while time.perf_counter() - start < 1.0:
            loaded = flsim.Results.load(folder)  # never missing, never a mix of two results
            seeds.add(loaded.config.seed)
            assert len(loaded.rounds) == 2
        assert seeds == {0, 1}  # it read both while they were being replaced
    finally:
        writer.kill()  # at whatever moment it has reached
        writer.wait()
    assert flsim.Results.load(folder).rounds["round"].tolist() == [0, 1]
    atomic.clean_abandoned(folder.parent)  # the killed writer's staging folder, if any
    assert [p.name for p in folder.parent.iterdir()] == ["run"]


def test_without_flock_only_age_tells_a_staging_folder_abandoned(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "fcntl", None)  # Windows, or a filesystem without locks
    with atomic.staging(tmp_path / "run") as folder:
        atomic.clean_abandoned(tmp_path)
        assert folder.is_dir()  # young: its writer may be at work
    left = tmp_path / ".run~staging~0000"
    left.mkdir()
    old = time.time() - atomic.STALE_SECONDS - 60
    os.utime(left, (old, old))
    atomic.clean_abandoned(tmp_path)
    assert list(tmp_path.iterdir()) == []
