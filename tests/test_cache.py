"""The result cache heals itself: damaged or mismatched entries are set aside and recomputed,
an unusable cache costs no results, concurrent writers both succeed."""

import json
import os
import subprocess
import sys
import warnings

import pandas as pd
import pytest

import flsim
from flsim import atomic, cache


def same_tables(a, b):
    for name in ("rounds", "updates", "output_bias", "detection", "defence"):
        pd.testing.assert_frame_equal(getattr(a, name).drop(columns="seconds", errors="ignore"),
                                      getattr(b, name).drop(columns="seconds", errors="ignore"), check_exact=True)


def truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def garble(path):
    path.write_text("{ not json")


def empty(path):
    path.write_bytes(b"")


def other_seed(path):
    record = json.loads(path.read_text())
    record["config"]["seed"] = 7  # a hand edit: the entry now claims another config
    path.write_text(json.dumps(record))


def other_value(path):
    frame = pd.read_parquet(path)
    frame.loc[0, "main_accuracy"] = 0.5  # a plausible table whose checksum no longer matches
    frame.to_parquet(path, index=False)


@pytest.mark.parametrize("file, damage", [
    ("rounds.parquet", truncate), ("updates.parquet", empty), ("config.json", garble), ("config.json", empty),
    ("config.json", other_seed), ("rounds.parquet", other_value), ("detection.parquet", os.remove),
])
def test_a_damaged_entry_is_reported_set_aside_and_recomputed(tiny_config, file, damage):
    first = flsim.run(tiny_config)
    entry = cache.cache_path(tiny_config)
    damage(entry / file)
    with pytest.warns(cache.CacheWarning, match=f"cached result {entry}.* is damaged.*computing it again"):
        again = flsim.run(tiny_config)
    assert again.config == tiny_config
    same_tables(again, first)
    assert again.rounds.seconds.tolist() != first.rounds.seconds.tolist()  # recomputed, not read back
    [aside] = (cache.cache_dir() / cache.DAMAGED).iterdir()
    assert aside.name.startswith(entry.name) and (aside / "rounds.parquet").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # healed: the next run reads the new entry without a word
        read = flsim.run(tiny_config)
    assert read.rounds.seconds.tolist() == again.rounds.seconds.tolist()


def test_an_entry_is_served_as_the_config_asked_for(tiny_config, tmp_path):
    flsim.run(tiny_config)
    elsewhere = tiny_config.replace(data_dir=str(tmp_path))  # where data lives is not part of the key
    assert flsim.run(elsewhere).config == elsewhere


@pytest.mark.parametrize("make_unusable", ["file", "inside a file"])
def test_an_unusable_cache_warns_once_and_the_run_goes_on(tiny_config, tmp_path, monkeypatch, make_unusable):
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FLSIM_CACHE", str(blocker if make_unusable == "file" else blocker / "results"))
    monkeypatch.setattr(cache, "_reported", set())
    with pytest.warns(cache.CacheWarning, match="result cache .* is unusable.*not cached") as caught:
        first = flsim.run(tiny_config)
        second = flsim.run(tiny_config.replace(seed=1))
    assert len([w for w in caught if issubclass(w.category, cache.CacheWarning)]) == 1
    assert len(first.rounds) == len(second.rounds) == 3
    assert first.save(tmp_path / "out") == tmp_path / "out"  # --out does not need the cache
    assert blocker.read_text() == "not a directory"


def test_the_first_complete_entry_wins(tiny_config):
    first = flsim.run(tiny_config)
    later = flsim.run(tiny_config, cache=False)  # the same run, finished by another process
    assert cache.store(later) == cache.cache_path(tiny_config)
    assert cache.load_cached(tiny_config).rounds.seconds.tolist() == first.rounds.seconds.tolist()
    assert [p.name for p in cache.cache_dir().iterdir()] == [cache.cache_path(tiny_config).name]


def test_two_processes_finishing_one_config_both_succeed(tmp_path):
    script = ("import flsim; from tests.conftest import TINY; "
              "r = flsim.run(flsim.Config(**TINY)); print(r.rounds.main_loss.iloc[-1])")
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    assert outputs[0] == outputs[1]
    assert len([p for p in cache.cache_dir().iterdir()]) == 1  # one entry, no staging left


def test_staging_folders_of_killed_writers_are_removed(tiny_config):
    """A staging folder is abandoned when no process holds its lock (tests/test_out_safety.py: with a
    second process); one whose lock is held stays, whoever holds it."""
    parent = cache.cache_dir()
    parent.mkdir(parents=True, exist_ok=True)
    dead = parent / ".abc-123~staging~0000"
    dead.mkdir()
    (dead / "rounds.parquet").write_text("half written")
    living = parent / ".abc-123~staging~1111"
    living.mkdir()
    held, _ = atomic._lock(living)  # a writer at work (flock: another open file description, even here)
    try:
        flsim.run(tiny_config)
        assert not dead.exists() and living.exists()
    finally:
        os.close(held)


def _imports(module: str) -> set[str]:
    """The flsim modules ``module`` imports (``from . import x``, ``from .x import y``)."""
    import ast
    from pathlib import Path

    package = Path(flsim.__file__).parent
    inner = package / module  # a subpackage imports flsim's modules from one level further up
    files, level = (sorted(inner.glob("*.py")), 2) if inner.is_dir() else ([package / f"{module}.py"], 1)
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == level:
                found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
    return {name for name in found if (package / f"{name}.py").exists() or (package / name).is_dir()}


def test_the_source_hash_covers_the_modules_a_simulation_runs_through():
    reached, todo = set(), ["experiment", "panels"]  # a panel computes its members' results
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += _imports(module)
    reached -= {"cache", "atomic", "identity"}  # where results are kept and what names them, not how they
    # are computed
    assert reached == set(cache.SIMULATION_MODULES)
    assert not reached & {"analysis", "plots", "notebook", "cli", "sweep", "theory"}


def test_editing_a_module_outside_the_simulation_recomputes_nothing(tiny_config, monkeypatch):
    first = flsim.run(tiny_config)
    key = cache.source_hash()
    from pathlib import Path

    real = Path.read_bytes

    edits = {"law.py", "statistics.py", "sweeps.py", "notebook.py"}  # analysis/ is outside the simulation

    def edited(path):
        data = real(path)
        return data + b"\n# an edit" if path.name in edits else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert cache.source_hash() == key
    assert flsim.run(tiny_config).rounds.seconds.tolist() == first.rounds.seconds.tolist()
    edits.add("train.py")  # a module the simulation runs through: new keys
    assert cache.source_hash() != key
