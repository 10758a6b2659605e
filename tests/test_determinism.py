"""Same config, same bits: at any torch thread count, in fresh processes; the cache key knows the device."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch

import flsim
from flsim import cache, pretraining
from tests.conftest import TINY
from tests.test_sweep import assert_same_results

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
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    assert flsim.Config(device="auto").key() == flsim.Config(device="cuda").key() != flsim.Config().key()


def test_a_cuda_key_names_the_backend_gpu_precision_and_torch_version(monkeypatch):
    monkeypatch.delenv("FLSIM_BACKEND", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    settings = flsim.Config(device="auto").key_settings()
    assert (settings["device"], settings["backend"], settings["gpu"]) == ("cuda", "batched", "Tesla T4")
    assert settings["precision"] == "fp32, TF32 off, cuDNN deterministic" and settings["torch"] == torch.__version__
    assert flsim.Config(device="cuda", model="resnet8").key_settings()["backend"] == "sequential"  # BatchNorm
    other_gpu = flsim.Config(device="cuda").key()
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100")
    assert flsim.Config(device="cuda").key() != other_gpu
    cpu = flsim.Config(device="cpu").key_settings()
    assert cpu["backend"] == "sequential" and "gpu" not in cpu and cpu["torch"] == torch.__version__


def test_runs_keep_cuda_to_exact_fp32_and_give_the_flags_back(tiny_config):
    seen = []
    real = flsim.experiment.simulate_rounds

    def spy(*args, **kwargs):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
                     torch.backends.cudnn.deterministic))
        return real(*args, **kwargs)

    before = torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for convolutions
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(flsim.experiment, "simulate_rounds", spy)
            flsim.run(tiny_config.replace(num_rounds=1), cache=False)
        assert seen == [(False, False, True)] and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic = before


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


def test_runs_in_threads_are_the_bits_of_runs_one_after_the_other(tiny_config):
    """Everything a run draws comes from its own generators, and its model's initialisation (which
    nn.init draws from torch's global generator) is built under a lock: threads cannot disturb it."""
    configs = [tiny_config, tiny_config.replace(seed=1, attack="trigger"), tiny_config.replace(seed=2)]
    serial = [flsim.run(c, cache=False) for c in configs]
    pretraining.forget()
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(lambda c: flsim.run(c, cache=False), configs))
    for one, other in zip(serial, threaded):
        assert_same_results(one, other)
        assert np.array_equal(one.final_weights, other.final_weights)


def test_a_run_leaves_the_callers_global_generator_as_it_was(tiny_config):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    flsim.setup(tiny_config.replace(model="resnet8"))  # builds a model (initialisation) and hashes it (its key)
    assert torch.equal(torch.rand(3), expected)
