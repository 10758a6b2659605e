"""flsim.analysis.localisation_report (chapter 3's run taken apart), on small hand-made inputs with known
answers: a fake run whose attacker (client 0 of five) deviates by a fixed amount per tensor."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import flsim
from flsim import analysis
from flsim.analysis import localisation_report as one_run

HONEST = (1.0, 1.1, 0.9, 1.05)  # clients 1-4, each + 0.01 per round
HONEST_MEAN = float(np.mean(HONEST)) + 0.01 * 2.5  # over rounds 1-4


def updates(attacker: dict[str, float], rounds: int = 4) -> pd.DataFrame:
    """One row per round, client and tensor: the attacker's (client 0) statistic is ``attacker[layer]`` in
    every round, the honest clients' HONEST + 0.01 x round whatever the tensor."""
    rows = []
    for r in range(1, rounds + 1):
        for client in range(5):
            for layer, value in attacker.items():
                value = value if client == 0 else HONEST[client - 1] + 0.01 * r
                rows.append(dict(round=r, client=client, layer=layer, malicious=client == 0, max_abs_deviation=value,
                                 l2_deviation=value, cosine_to_mean=1 - value / 10))
    return pd.DataFrame(rows)


def fake_run(attacker=None, seed=0, attack="semantic", **changes):
    attacker = attacker or {"conv.weight": 1.0, "fc2.weight": 3.0, "fc2.bias": 2.0}
    fields = dict(config=flsim.Config(seed=seed, attack=attack), updates=updates(attacker),
                  output_bias_tensor="fc2.bias",
                  rounds=pd.DataFrame({"round": [0, 1, 2], "main_accuracy": [0.3, 0.6, 0.8],
                                       "backdoor_accuracy": [0.0, 0.6, 0.4], "seconds": [0.0, 1.5, 2.5]}))
    return SimpleNamespace(**{**fields, **changes})


def test_counts_read_as_written():
    assert one_run.counted(1, "round") == "1 round"
    assert one_run.counted(1091, "sample") == "1,091 samples" and one_run.counted(0, "seed") == "0 seeds"


def test_the_chapters_runs_by_role_and_back():
    config = flsim.Config()
    groups = one_run.chapter_configs(config, [0, 1], "trigger", "flat_sandals", "resnet8")
    assert [c.attack for c in groups["runs"]] == ["semantic", "semantic", "trigger", "trigger"]
    assert [c.seed for c in groups["other"]] == [0, 1] and groups["other"][0].semantic_set == "flat_sandals"
    assert [c.model for c in groups["deeper"]] == ["resnet8", "resnet8"]
    assert one_run.chapter_configs(config, [0], "", "", "") == dict(runs=[config], other=[], deeper=[])
    assert one_run.split_runs(list("xyz"), {"a": [1, 2], "b": [], "c": [3]}) == [["x", "y"], [], ["z"]]


def fake_federation(samples=64, **changes):
    fields = dict(clean_data=[(None, torch.zeros(samples))], dataset=SimpleNamespace(name="fashion_mnist"),
                  trainer=SimpleNamespace(model=SimpleNamespace(fc1=SimpleNamespace(weight=torch.zeros(128, 6272)))),
                  server_data=(None, torch.zeros(4)), test=(None, torch.zeros(10)), backdoor_test=(None, torch.zeros(2)))
    return SimpleNamespace(**{**fields, **changes})


def test_the_setting_in_words():
    config = flsim.Config(num_clients=4, samples_per_client=64, num_malicious=2, malicious_data_rate=5)
    values = one_run.localisation_settings(config, fake_federation(), [0], "trigger")
    assert values["attackers_text"] == "2 attackers (clients 0 and 1)" and values["clients_text"] == "4 clients"
    assert values["poison_positions_text"] == "0, 10, 20, ..." and values["num_poisoned"] == 7  # step m x r
    assert (values["samples"], values["local_steps"], values["fc1_entries"]) == (64, 1, "802,816")
    assert values["epochs_text"] == "1 local epoch" and values["dataset_name"] == "Fashion-MNIST"
    assert values["contrast_runs_text"] == "on the same seeds, the trigger backdoor instead of the semantic one"
    assert values["regime"] == analysis.regime(config)
    many = one_run.localisation_settings(flsim.Config(), fake_federation(300), [0, 1, 2], "", "flat_sandals", "resnet8")
    assert many["attackers_text"] == "one attacker (client 0)" and many["local_steps"] == 5  # 300 / 64, rounded up
    assert many["contrast_runs_text"] == (
        "the same setting with seeds 1, 2; on the same seeds, the flat sandals instead of the striped T-shirts "
        "(the other side of chapter 4's axis); in its last section, the same seeds with a deeper model (resnet8, "
        "with BatchNorm) instead of the paper's CNN")
    assert one_run.localisation_settings(flsim.Config(), fake_federation(), [0, 1])["contrast_runs_text"] == (
        "the same setting with seed 1")
    assert one_run.localisation_settings(flsim.Config(), fake_federation(), [0])["contrast_runs_text"] == "no other run"


def test_what_the_runs_cost():
    federation = fake_federation(5, config=SimpleNamespace(num_rounds=2, num_chosen=3, local_epochs=1))
    values = one_run.localisation_cost(federation, [fake_run(), fake_run()])
    assert values == dict(compute_seconds=8.0, num_runs=2, test_images="10", work_text=(
        "Each run trains 34 sample-passes (2 rounds x 3 clients x 5 samples x 1 epoch, and the server's "
        "pre-training on 4 samples) and evaluates 3 models on 10 test images and 2 backdoor images; the "
        "chapter's 2 runs train 68 sample-passes and evaluate 72 images in all"))


def test_the_accuracy_with_its_wilson_interval():
    values = one_run.accuracy_values(fake_run(), 100)
    low, high = analysis.wilson_interval(80, 100)
    assert values["main_accuracy_text"] == f"80.0% [{low:.1%}, {high:.1%}]" and 0.71 < low < high < 0.87
    assert values["backdoor_held"] == "the backdoor took hold" and values["backdoor_accuracy_max"] == 0.6
    weak = fake_run(rounds=pd.DataFrame({"main_accuracy": [0.5], "backdoor_accuracy": [0.49]}))
    assert one_run.accuracy_values(weak, 100)["backdoor_held"] == "the backdoor has not taken hold"


def test_the_brightest_cell_of_each_tensor():
    table, values = one_run.brightest(fake_run().updates)
    # conv.weight: the attacker's 1.0 is below client 2's 1.1 + 0.04 in round 4; the others are the attacker's.
    assert table.loc["conv.weight"].tolist() == [4, 2, False]
    assert table.malicious.tolist() == [False, True, True]
    assert values == dict(honest_brightest=1, num_tensors=3)


def test_the_ratio_and_its_rank():
    run = fake_run()
    values = one_run.ratio_values(run, analysis.layer_summary(run.updates))
    assert values["intro_bias_ratio"] == pytest.approx(2 / HONEST_MEAN)
    assert values["top_ratio"] == pytest.approx(3 / HONEST_MEAN) and values["top_ratio_layer"] == "fc2.weight"
    assert values["bias_ratio_rank"] == 2
    assert values["bias_ratio_text"].startswith(f"{2 / HONEST_MEAN:.2f} [")
    assert values["top_ratio_text"].startswith(f"{3 / HONEST_MEAN:.2f} [")


def test_the_class_shift_in_words():
    # Rounds 1-3, client 0 the attacker: target class 2 up by 0.3, source class 0 down by 0.3, class 1 unmoved.
    honest = (-0.1, 0.0, 0.1)
    rows = [dict(round=r, client=c, malicious=c == 0, **{"class": k}, deviation=(
                {2: 0.3, 0: -0.3, 1: 0.0}[k] if c == 0 else honest[c - 1] * (1 if k != 0 else -1)))
            for r in (1, 2, 3) for c in range(4) for k in range(3)]
    results = SimpleNamespace(output_bias=pd.DataFrame(rows), config=flsim.Config(target_class=2))
    dataset = SimpleNamespace(classes=["shirt", "bag", "pullover"], train_y=torch.tensor([0, 0, 1]))
    federation = SimpleNamespace(dataset=dataset, backdoor=SimpleNamespace(excluded=torch.tensor([0, 1])))
    table, values = one_run.class_shift_values(results, federation)
    sd = float(np.std(honest * 3, ddof=1))
    assert (values["target_name"], values["source_name"]) == ("pullover", "shirt")
    assert values["target_z"] == pytest.approx(0.3 / sd) and values["source_z"] == pytest.approx(-0.3 / sd)
    assert values["target_z_text"].startswith(f"+{0.3 / sd:.2f} [")
    assert values["target_up_share"] == 1 and values["source_down_share"] == 1
    assert values["direction"] == "the direction the theory predicts"
    assert values["spread"] == "well beyond the honest clients' own spread"  # |z| = 3.2
    assert values["singled_out"] == ("no other class moves as far, so the backdoor's two classes are singled out")
    assert values["max_abs_z_class"] in ("pullover", "shirt")
    assert list(table.index) == ["shirt", "bag", "pullover"] and table.loc["bag", "pooled z"] == 0.0
    assert list(table.columns) == ["attacker mean", "honest sd", "pooled z", "z low", "z high", "share up"]


def test_a_class_that_moves_as_far_is_named():
    # the target class up by 0.1 only (z = 1.15), class 1 up by 0.3, further than the backdoor's two
    honest = (-0.1, 0.0, 0.1)
    rows = [dict(round=r, client=c, malicious=c == 0, **{"class": k}, deviation=(
                {2: 0.1, 0: -0.05, 1: 0.3}[k] if c == 0 else honest[c - 1]))
            for r in (1, 2, 3) for c in range(4) for k in range(3)]
    results = SimpleNamespace(output_bias=pd.DataFrame(rows), config=flsim.Config(target_class=2))
    federation = SimpleNamespace(dataset=SimpleNamespace(classes=["a", "b", "c"], train_y=torch.tensor([0])),
                                 backdoor=SimpleNamespace(excluded=torch.tensor([0])))
    _, values = one_run.class_shift_values(results, federation)
    assert values["singled_out"] == ("one other class moves at least as far, so the backdoor's two classes are "
                                     "among the classes that move, not singled out")
    assert values["spread"] == ("about the honest clients' own spread, so no single round's value gives the "
                                "attacker away")
    assert values["max_abs_z_class"] == "b"


def test_the_aucs_with_their_intervals():
    aucs, values = one_run.auc_values(fake_run())
    assert list(aucs.columns) == ["max_abs_deviation", "l2_deviation", "cosine_to_mean"]
    assert values["bias_auc"] == 1.0 and values["bias_auc_rank"] == 1  # tied with fc2.weight
    assert values["best_auc_layer"] == "fc2.weight"  # the first of the tied, in the model's order
    assert (values["auc_positives"], values["auc_negatives"]) == (4, 16)
    assert values["bias_auc_text"] == analysis.interval_text(1.0, *analysis.auc_interval(1.0, 4, 16))
    assert values["bias_auc_se"] == analysis.auc_standard_error(1.0, 4, 16)
    assert values["auc_two_se"] == 2 * values["bias_auc_se"]
    assert aucs.max_abs_deviation["conv.weight"] == pytest.approx(4 / 16)  # above client 3's 0.9 + r / 100 only


def test_the_attackers_rank_round_by_round():
    ranks, values = one_run.rank_values(fake_run())
    assert list(ranks.columns) == ["fc2.bias", "fc2.weight"]  # the best AUC and the largest ratio: one tensor
    assert values == dict(bias_top_rounds="1-4", bias_top_count=4, attacked_rounds=4, bias_median_rank=1.0,
                          best_layer_top_count=4, best_layer_top_text="4 rounds")
    low = fake_run({"conv.weight": 1.0, "fc2.weight": 3.0, "fc2.bias": 1.0})
    _, values = one_run.rank_values(low)
    assert values["bias_top_rounds"] == "none" and values["bias_median_rank"] == 4.0


def test_the_reference_run():
    values = one_run.reference_values()
    assert values["ref_top_rounds"] == "1-5, 16 and 20" and values["ref_streak"] == 5
    assert (values["ref_rounds"], values["ref_top_count"], values["ref_later_top"]) == (25, 7, 2)
    assert values["ref_later_rounds"] == 20 and values["ref_later_chance"] == 2.0  # 20 rounds, 1 in 10 clients
