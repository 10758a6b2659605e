"""Chapter 2, "The federated set-up", executed with tiny parameters."""

import dataclasses

import flsim

from .test_01_theory import parameters


def test_defaults_run_the_book_baseline():
    """At its defaults the backdoored run is exactly flsim.Config(), shared with chapters 1 and 3-6."""
    fields = {f.name for f in dataclasses.fields(flsim.Config)}
    assert flsim.Config(**{k: v for k, v in parameters("02_setup").items() if k in fields}) == flsim.Config()


def test_02_setup(run_chapter):
    values = run_chapter("02_setup", num_clients=3, samples_per_client=60, num_rounds=2, eval_samples=200,
                         server_share=0.05)
    assert (values["train_size"], values["test_size"]) == (60000, 10000)
    # The pool (60,000 minus 20 backdoor images) dealt over the server and 3 clients.
    assert values["deal_size"] == 59980 // 4
    assert values["server_samples"] == round(0.05 * 59980 / 4)
    assert (values["num_clients"], values["samples_per_client"], values["num_rounds"]) == (3, 60, 2)
    # conv1, conv2, fc1 (32 channels x 14 x 14 inputs), fc2 on 28 x 28 x 1 images.
    assert values["num_parameters"] == (9 * 32 + 32) + (9 * 32 * 32 + 32) + (6272 * 128 + 128) + (128 * 10 + 10)
    assert values["fc1_share"] > 95
    assert values["iid_max_share"] < values["dirichlet_max_share"]
    assert values["clean_accuracy"] > 15  # better than chance (10%) after pre-training and 2 rounds
    assert 0 <= values["backdoor_accuracy"] <= values["backdoor_accuracy_max"] <= 100
    assert values["num_backdoor_images"] == 20
