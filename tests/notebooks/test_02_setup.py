"""Chapter 2, "The federated set-up", executed with tiny parameters (without myst-nb: tests/test_notebook_helpers.py)."""

import torch

import flsim

from .conftest import assert_reads_well
from .test_01_theory import default_run

TINY = dict(num_clients=3, samples_per_client=60, num_rounds=2, eval_samples=200, server_share=0.05)


def test_defaults_run_the_book_baseline():
    """At its defaults the backdoored run is flsim.Config() but for device="auto", which on a CPU is the
    same run under the same cache key: shared with chapters 1 and 3-7."""
    config = default_run("02_setup")
    assert config.device == "auto" and config.replace(device="cpu") == flsim.Config()
    if not torch.cuda.is_available():
        assert config.key() == flsim.Config().key()


def test_the_chapter_with_tiny_parameters(run_chapter, tmp_path):
    values = run_chapter("02_setup", **TINY)
    assert_reads_well(tmp_path / "02_setup.ipynb")
    assert (values["train_size"], values["test_size"]) == (60000, 10000)
    assert values["class_balance"] == "each class equally often" and values["dataset_name"] == "Fashion-MNIST"
    # The pool (60,000 minus 20 backdoor images) dealt over the server and 3 clients.
    assert values["deal_size"] == 59980 // 4
    assert values["server_samples"] == round(0.05 * 59980 / 4)
    assert (values["num_clients"], values["samples_per_client"], values["num_rounds"]) == (3, 60, 2)
    assert (values["epochs_text"], values["lr"], values["num_honest"]) == ("one epoch", 0.01, 2)
    # conv1, conv2, fc1 (32 channels x 14 x 14 inputs), fc2 on 28 x 28 x 1 images.
    assert values["num_parameters"] == (9 * 32 + 32) + (9 * 32 * 32 + 32) + (6272 * 128 + 128) + (128 * 10 + 10)
    assert values["fc1_share"] > 95
    assert values["iid_max_share"] < values["dirichlet_max_share"]
    assert values["clean_accuracy"] > 15  # better than chance (10%) after pre-training and 2 rounds
    assert 0 <= values["backdoor_accuracy"] <= values["backdoor_accuracy_max"] <= 100
    assert values["num_backdoor_images"] == values["num_semantic_images"] == 20 and values["backdoor_step"] == 5
    assert values["num_trigger_images"] == 200  # eval_samples test images, stamped
    # Both runs train 3 clients x 60 images for 2 rounds, plus the server's pre-training, once per epoch;
    # they evaluate 200 test images after the pre-training and each round, the backdoored run its 20 images too.
    assert values["sample_passes"] == 2 * (2 * 3 * 60 + values["server_samples"])
    assert values["evaluated_images"] == 3 * (2 * 200 + 20)
    assert (values["source_name"], values["target_name"]) == ("T-shirt/top", "Pullover")
