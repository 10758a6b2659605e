"""Chapter 1, "The output layer's gradient", executed with tiny parameters."""

import dataclasses

import pytest
import torch

import flsim
from flsim.notebook import parameters_of

from .conftest import BOOK, assert_reads_well


def parameters(name: str) -> dict:
    """The chapter's default parameters, as its `parameters` cell sets them."""
    return parameters_of(BOOK / f"{name}.ipynb")


def default_run(name: str) -> flsim.Config:
    """The Config a chapter builds from the Config fields among its default parameters."""
    fields = {f.name for f in dataclasses.fields(flsim.Config)}
    return flsim.Config(**{k: v for k, v in parameters(name).items() if k in fields})


def test_defaults_run_the_book_baseline():
    """At its defaults the chapter's full run is flsim.Config() but for device="auto", which on a CPU is the
    same run under the same cache key: shared with chapters 2-7 through the cache."""
    config = default_run("01_theory")
    assert config.device == "auto" and config.replace(device="cpu") == flsim.Config()
    if not torch.cuda.is_available():
        assert config.key() == flsim.Config().key()


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("01_theory", num_clients=4, samples_per_client=100, num_rounds=2,
                         eval_samples=200, server_share=0.05, lr_values=[0.01, 0.05], malicious_data_rate_values=[5])
    assert_reads_well(tmp_path / "01_theory.ipynb")
    # The closed form is the gradient, and the bias gradient sums to zero over the classes.
    assert values["autograd_gap"] < 1e-5
    assert abs(values["bias_gradient_sum"]) < 1e-5
    assert values["batch_poisoned"] == 7  # positions 0, 10, ..., 60 of the first batch of 64
    # A poisoned sample's error: negative at the target class, positive at the source class.
    assert -1 < values["poisoned_target_error"] < values["poisoned_target_error_max"] < 0
    assert values["poisoned_source_error"] > 0
    assert 1 <= values["bias_rank"] <= values["num_entries"] <= 1290
    assert values["dilution_verdict"] == ("holds" if values["bias_rank"] == 1 else "does not hold")
    # 10 poisoned samples of 100, lr 0.01, batches of 64, 4 clients: 0.01 * 10 / 64 * (1 - 1/4).
    assert values["predicted"] == pytest.approx(0.01 * 10 / 64 * 0.75)
    # The poisoned labels' term is the prediction, except that the last batch (36) weighs its samples more.
    assert values["last_batch_note"].startswith("differs only because the last batch holds 36 samples")
    assert values["predicted"] <= values["term_poisoned"] <= values["predicted"] * 64 / 36 + 1e-9
    terms = ("term_poisoned", "term_clean", "term_start", "term_rise_bias", "term_rise_weights")
    assert sum(values[t] for t in terms) == pytest.approx(values["micro_measured"], abs=1e-6)
    assert values["micro_ratio"] == pytest.approx(values["micro_measured"] / values["predicted"])
    assert 0 <= values["final_backdoor_accuracy"] <= 100
    assert values["grid_ratio_min"] <= min(values["lr_low_ratio"], values["lr_high_ratio"], values["rate_low_ratio"])
    assert values["grid_ratio_max"] >= max(values["lr_low_ratio"], values["lr_high_ratio"], values["rate_low_ratio"])
    assert (values["lr_low"], values["lr_high"], values["rate_low"]) == ("0.01", "0.05", "5")
    assert values["rate_low_poisoned"] == 20 and values["rate_low_share"] == pytest.approx(0.2)
    assert values["smallest_setting"] in ("lr 0.01", "lr 0.05", "r 5")
    assert values["lr_trend"].startswith("smaller" if values["lr_high_ratio"] < values["lr_low_ratio"] else "not")
    assert f"the dilution argument {values['dilution_verdict']} " in values["verdict"]
    assert values["shortfall"] == pytest.approx(1 / values["rounds_ratio_mean"])
