"""Same config, same bits: at any torch thread count, in fresh processes; the cache key knows the device."""

import subprocess
import sys

import pandas as pd
import pytest
import torch

import flsim
from flsim import cache
from tests.conftest import TINY

RUN = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
import flsim
config = flsim.Config(**{config!r})
flsim.run(config, cache=False).save(sys.argv[2])
"""


def test_a_config_gives_the_same_tables_at_1_and_4_threads(tmp_path):
    settings = {**TINY, "clients_per_round": 3, "aggregator": "flame"}  # random choice and noise too
    saved = {}
    for threads in (1, 4):
        out = tmp_path / f"threads-{threads}"
        subprocess.run([sys.executable, "-c", RUN.format(config=settings), str(threads), str(out)], check=True)
        saved[threads] = flsim.Results.load(out)
    one, other = saved[1], saved[4]
    assert not one.updates.empty and not one.detection.empty
    pd.testing.assert_frame_equal(other.rounds.drop(columns="seconds"), one.rounds.drop(columns="seconds"),
                                  check_exact=True)
    for name in ("updates", "output_bias", "detection", "defence"):
        pd.testing.assert_frame_equal(getattr(other, name), getattr(one, name), check_exact=True)


def test_the_thread_count_is_given_back(tiny_config):
    before = torch.get_num_threads()
    flsim.run(tiny_config.replace(num_rounds=1), cache=False)
    assert torch.get_num_threads() == before


def test_the_cache_key_holds_the_device_the_run_uses(monkeypatch):
    monkeypatch.delenv("FLSIM_BACKEND", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert flsim.Config(device="auto").key() == flsim.Config(device="cpu").key()  # auto means the CPU here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert flsim.Config(device="auto").key() == flsim.Config(device="cuda").key() != flsim.Config().key()


def test_the_cache_key_holds_a_forced_backend(monkeypatch):
    monkeypatch.delenv("FLSIM_BACKEND", raising=False)
    plain = cache.cache_path(flsim.Config())
    monkeypatch.setenv("FLSIM_BACKEND", "sequential")  # what "auto" is on a CPU: the same bits
    assert cache.cache_path(flsim.Config()) == plain
    monkeypatch.setenv("FLSIM_BACKEND", "batched")  # vmapped steps: other float rounding
    assert cache.cache_path(flsim.Config()) != plain


@pytest.mark.parametrize("threads", [1, 3])
def test_results_in_process_do_not_depend_on_the_thread_count(tiny_config, threads):
    config = tiny_config.replace(num_rounds=1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        reference = flsim.run(config, cache=False)
        torch.set_num_threads(threads)
        again = flsim.run(config, cache=False)
    finally:
        torch.set_num_threads(before)
    pd.testing.assert_frame_equal(again.updates, reference.updates, check_exact=True)
    assert again.rounds.main_loss.tolist() == reference.rounds.main_loss.tolist()
