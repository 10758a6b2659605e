"""Saving results never destroys what flsim did not write, and never leaves neither copy."""

import json
import os
import signal
import stat
import subprocess
import sys

import pandas as pd
import pytest

import flsim
from flsim import atomic
from flsim.cli import main
from flsim.results import DestinationError, ResultsError
from tests.conftest import TINY

TINY_ARGS = [f"{k}={v}" for k, v in TINY.items()]


@pytest.fixture(scope="module")
def results():
    return flsim.run(flsim.Config(**TINY), cache=False)


def test_save_writes_a_new_directory_with_the_users_permissions(results, tmp_path):
    saved = results.save(tmp_path / "a" / "run")
    assert sorted(p.name for p in saved.iterdir()) == sorted(
        ["config.json", "rounds.parquet", "updates.parquet", "output_bias.parquet", "detection.parquet",
         "defence.parquet", "final_weights.npy"])
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's 0700
    record = json.loads((saved / "config.json").read_text())
    assert record["flsim_version"] == flsim.__version__ and len(record["source_hash"]) == 12
    assert record["config"] == results.config.to_dict() and len(record["checksums"]) == 6
    assert [p.name for p in tmp_path.joinpath("a").iterdir()] == ["run"]  # no staging left


def test_save_replaces_an_earlier_result_and_an_empty_directory(results, tmp_path):
    target = tmp_path / "run"
    results.save(target)
    other = flsim.run(results.config.replace(seed=1))
    other.save(target)
    assert flsim.Results.load(target).config.seed == 1
    (tmp_path / "empty").mkdir()
    results.save(tmp_path / "empty")
    assert flsim.Results.load(tmp_path / "empty").config == results.config


@pytest.mark.parametrize("setup, words", [
    (lambda d: (d.mkdir(), (d / "notes.txt").write_text("mine")), ["notes.txt", "did not write"]),
    (lambda d: d.write_text("a file"), ["is not a directory"]),
    (lambda d: (d.mkdir(), (d / "rounds.parquet").write_text("mine")), ["no config.json that flsim wrote"]),
    (lambda d: (d.mkdir(), (d / "config.json").write_text('{"theme": "dark"}')), ["no config.json that flsim"]),
    (lambda d: (d.mkdir(), (d / "config.json").write_text("not json")), ["no config.json that flsim wrote"]),
])
def test_save_refuses_a_destination_holding_other_files(results, tmp_path, setup, words):
    target = tmp_path / "target"
    setup(target)
    before = {p: p.read_bytes() for p in [target, *target.glob("*")] if p.is_file()}
    with pytest.raises(DestinationError) as error:
        results.save(target)
    for word in words:
        assert word in str(error.value)
    assert {p: p.read_bytes() for p in before} == before
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


def test_cli_out_refuses_a_users_directory_before_running(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    for out in (".", str(tmp_path)):
        assert main(["run", *TINY_ARGS, "--out", out]) == 2
        assert "working directory" in capsys.readouterr().err
    assert main(["run", *TINY_ARGS, "--out", "notes.txt"]) == 2
    assert "notes.txt exists and is not a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert main(["run", *TINY_ARGS, "--out", "run1"]) == 0
    assert flsim.Results.load(tmp_path / "run1").config == flsim.Config(**TINY)


def test_load_refuses_a_table_changed_after_saving(results, tmp_path):
    saved = results.save(tmp_path / "run")
    frame = pd.read_parquet(saved / "updates.parquet")
    frame.loc[0, "l2_deviation"] += 1
    frame.to_parquet(saved / "updates.parquet", index=False)
    with pytest.raises(ResultsError, match="updates.parquet does not match the checksum"):
        flsim.Results.load(saved)


KILL_AFTER = """
import os, signal, sys
import flsim
from flsim import atomic
results = flsim.Results.load(sys.argv[1])
if sys.argv[2] == "two renames":  # a filesystem without an exchange: killed between its two renames
    atomic._EXCHANGE = None
    real = os.rename
    def rename(a, b):
        real(a, b)
        if "~replaced~" in str(b):
            os.kill(os.getpid(), signal.SIGKILL)
    atomic.os.rename = rename
else:  # killed right after the exchange, before the old result is removed
    real = atomic._exchange
    def exchange(a, b):
        assert real(a, b)
        os.kill(os.getpid(), signal.SIGKILL)
    atomic._exchange = exchange
flsim.run(results.config.replace(seed=1), cache=False).save(sys.argv[1])
"""


def test_a_kill_after_the_exchange_leaves_the_new_result(results, tmp_path):
    target = results.save(tmp_path / "run")
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER, str(target), "exchange"])
    assert killed.returncode == -signal.SIGKILL
    assert flsim.Results.load(target).config.seed == 1  # the new result, complete
    [left] = [p for p in tmp_path.iterdir() if p.name != "run"]  # the old one, under the staging name
    assert "~staging~" in left.name
    atomic.clean_abandoned(tmp_path)  # its writer is gone: its lock is free
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_kill_between_two_renames_leaves_the_old_result(results, tmp_path):
    target = results.save(tmp_path / "run")
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER, str(target), "two renames"])
    assert killed.returncode == -signal.SIGKILL
    assert not target.exists()  # killed between the renames: the old result is aside
    assert flsim.Results.load(target).config == results.config  # found again by the next reader
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_replacement_is_one_exchange_and_never_moves_the_result_away(results, tmp_path, monkeypatch):
    target = results.save(tmp_path / "run")
    renamed, exchanged = [], []
    real_rename, real_exchange = os.rename, atomic._exchange
    monkeypatch.setattr(atomic.os, "rename", lambda a, b: (renamed.append((a, b)), real_rename(a, b))[1])

    def exchange(a, b):
        assert flsim.Results.load(target).config.seed == 0  # the old result, complete, up to the exchange
        exchanged.append(b)
        return real_exchange(a, b)

    monkeypatch.setattr(atomic, "_exchange", exchange)
    flsim.run(results.config.replace(seed=1)).save(target)
    assert exchanged == [target] and all(a != target for a, _ in renamed)
    assert flsim.Results.load(target).config.seed == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_abandoned_staging_is_removed_and_a_replaced_result_put_back(results, tmp_path):
    target = results.save(tmp_path / "run")
    aside = tmp_path / ".run~replaced~0000"
    os.rename(target, aside)  # as a writer killed between two renames leaves it (no lock held)
    staging = tmp_path / ".other~staging~0000"
    staging.mkdir()
    atomic.clean_abandoned(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert flsim.Results.load(target).config == results.config


def test_a_table_added_from_outside_is_saved_checksummed_and_loaded_by_name(results, tmp_path):
    """A new per-run table needs no change to flsim: Results holds its tables by name."""
    extended = flsim.Results(results.config, results.tables | {"causal": pd.DataFrame({"layer": ["fc2.bias"],
                                                                                         "share": [0.9]})},
                             output_layer=results.output_layer, final_weights=results.final_weights)
    assert extended.causal.share.tolist() == [0.9] and list(extended.tables)[:5] == list(flsim.results.TABLES)
    extended.save(tmp_path / "run")
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "causal.parquet" in record["checksums"]
    loaded = flsim.Results.load(tmp_path / "run")
    assert list(loaded.tables) == list(extended.tables)
    pd.testing.assert_frame_equal(loaded.causal, extended.causal)
    extended.save(tmp_path / "run")  # its own earlier result, new table and all, is replaced
    (tmp_path / "run" / "causal.parquet").write_bytes(b"changed")
    with pytest.raises(ResultsError, match="causal.parquet"):
        flsim.Results.load(tmp_path / "run")


def test_a_users_parquet_file_is_still_refused(results, tmp_path):
    """Only the tables a result's config.json lists are flsim's: another Parquet file is the user's."""
    results.save(tmp_path / "run")
    (tmp_path / "run" / "mine.parquet").write_bytes(b"a user's table")
    with pytest.raises(DestinationError, match="mine.parquet"):
        results.save(tmp_path / "run")
    assert (tmp_path / "run" / "mine.parquet").read_bytes() == b"a user's table"


def test_tables_by_position_still_work_and_say_what_replaces_them(results):
    with pytest.warns(DeprecationWarning, match=r"Results\(config, \{'rounds': rounds"):
        old = flsim.Results(results.config, results.rounds, results.updates, results.output_bias)
    assert list(old.tables) == list(flsim.results.TABLES) and old.detection.empty
    pd.testing.assert_frame_equal(old.updates, results.updates)
    with pytest.raises(AttributeError, match="its tables: rounds, updates"):
        old.not_a_table
