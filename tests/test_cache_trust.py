"""The result cache is trusted input: flsim makes it this user's alone, refuses one that others
can write or own unless the user opts in, and keys entries by every library that shapes the numbers."""

import importlib.metadata
import os
import stat

import numpy as np
import pytest

import flsim
from flsim import cache
from flsim.cli import main
from tests.conftest import TINY


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("FLSIM_CACHE", str(directory))
    monkeypatch.delenv(cache.TRUST_VARIABLE, raising=False)
    return directory


@pytest.mark.parametrize("mode, words", [(0o777, ["writable by others", "0777"]),
                                         (0o770, ["writable by its group", "0770"])])
def test_a_cache_others_can_write_is_refused_before_the_run(fresh_cache, mode, words, monkeypatch):
    fresh_cache.mkdir()
    fresh_cache.chmod(mode)
    monkeypatch.setattr("flsim.experiment.simulate", lambda *a, **k: pytest.fail("ran with an unsafe cache"))
    with pytest.raises(flsim.UnsafeCacheError) as error:
        flsim.run(flsim.Config(**TINY))
    for word in [str(fresh_cache), *words, "chmod go-w", cache.TRUST_VARIABLE]:
        assert word in str(error.value)


def test_the_command_line_names_an_unsafe_cache(fresh_cache, capsys, monkeypatch):
    fresh_cache.mkdir()
    fresh_cache.chmod(0o777)
    monkeypatch.setattr("flsim.cli.run", flsim.run)
    monkeypatch.setattr("flsim.experiment.simulate", lambda *a, **k: pytest.fail("ran with an unsafe cache"))
    assert main(["run", *[f"{k}={v}" for k, v in TINY.items()]]) == 2
    assert "writable by others" in capsys.readouterr().err


def test_another_users_cache_is_refused(fresh_cache, monkeypatch):
    fresh_cache.mkdir(mode=0o700)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(fresh_cache).st_uid + 1)
    with pytest.raises(flsim.UnsafeCacheError, match="owned by another user"):
        cache.load_cached(flsim.Config(**TINY))


def test_opting_in_trusts_a_shared_cache(fresh_cache, monkeypatch):
    fresh_cache.mkdir()
    fresh_cache.chmod(0o777)
    monkeypatch.setenv(cache.TRUST_VARIABLE, "1")
    assert cache.load_cached(flsim.Config(**TINY)) is None  # looked in, nothing there


def test_flsim_makes_its_cache_this_users_alone(fresh_cache):
    results = flsim.Results(flsim.Config(**TINY), {})
    assert cache.store(results) is not None
    assert stat.S_IMODE(fresh_cache.stat().st_mode) == 0o700


def test_the_key_names_numpy_and_scikit_learn():
    settings = flsim.Config(**TINY).key_settings()
    assert settings["numpy"] == np.__version__
    assert settings["scikit-learn"] == importlib.metadata.version("scikit-learn")
