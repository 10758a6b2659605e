"""flsim.semantic: backdoor families built by rules, and the pre-trained model's predictors (chapter 4)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import flsim
from flsim import attacks, data, semantic
from flsim.flat import FlatModel

DATASET = "fashion_mnist"


def ink(indices):
    return data.load(DATASET).train_x[list(indices)].flatten(1).sum(1)


def test_ink_rules_order_the_class_by_pixel_sum():
    least = semantic.semantic_family(DATASET, "least_ink", 5)
    most = semantic.semantic_family(DATASET, "most_ink", 5)
    assert len(least) == len(most) == 20 and not set(least) & set(most)
    assert ink(least).max() < ink(most).min()
    labels = data.load(DATASET).train_y
    assert all(int(labels[i]) == 5 for i in least + most)
    # the book's flat sandals are the 20 sandals with the least ink
    assert least == attacks.SEMANTIC_SETS[DATASET]["flat_sandals"]
    # the least-ink images are the smallest of their class: no other sandal has less ink
    others = torch.nonzero(labels == 5).flatten()
    rest = sorted(set(others.tolist()) - set(least))
    assert ink(least).max() <= ink(rest).min()


def test_random_is_seeded():
    one = semantic.semantic_family(DATASET, "random", 3, size=10, seed=1)
    assert one == semantic.semantic_family(DATASET, "random", 3, size=10, seed=1)
    assert one != semantic.semantic_family(DATASET, "random", 3, size=10, seed=2)
    assert len(set(one)) == 10 and list(one) == sorted(one)


def test_stripe_contrast_counts_only_pixels_inside():
    striped = torch.zeros(1, 1, 6, 4)
    striped[0, 0, 1:5] = torch.tensor([1.0, 0.2, 1.0, 0.2])[:, None]  # rows alternate inside the garment
    flat = torch.zeros(1, 1, 6, 4)
    flat[0, 0, 1:5] = 0.6  # one shade: its outline against the background does not count
    contrast = semantic.stripe_contrast(torch.cat([striped, flat]))
    assert contrast[0] == pytest.approx(0.8) and contrast[1] == 0
    # the stripes rule picks T-shirts with more contrast than the least-ink ones have
    stripes = semantic.semantic_family(DATASET, "stripes", 0, size=10)
    plain = semantic.semantic_family(DATASET, "least_ink", 0, size=10)
    x = data.load(DATASET).train_x
    assert semantic.stripe_contrast(x[list(stripes)]).min() > semantic.stripe_contrast(x[list(plain)]).max()


@pytest.mark.parametrize("kwargs, name", [(dict(rule="inky"), "rule"), (dict(source_class=2), "source_class"),
                                          (dict(source_class=10), "source_class"), (dict(size=0), "size")])
def test_bad_arguments_are_named(kwargs, name):
    arguments = {**dict(dataset=DATASET, rule="least_ink", source_class=0), **kwargs}
    with pytest.raises(ValueError, match=f"^{name}="):
        semantic.semantic_family(**arguments)


class _Known(nn.Module):
    """Logits fc2(a) with a = the first two pixels of the image: activations one can read off the input."""

    def __init__(self):
        super().__init__()
        self.fc2 = nn.Linear(2, 3)
        with torch.no_grad():
            self.fc2.weight.zero_()
            self.fc2.bias.copy_(torch.tensor([0.0, 0.0, np.log(2.0)]))  # p = (1/4, 1/4, 1/2)

    def forward(self, x):
        return self.fc2(x.flatten(1)[:, :2])


class _Federation:
    def __init__(self, train_x, test_x):
        model = _Known()
        self.trainer = FlatModel(model, lr=0.1, batch_size=4, output_layer="fc2")
        self.global_weights = self.trainer.weights.clone()
        self.dataset = type("D", (), {"train_x": train_x})()
        self.test = (test_x, torch.zeros(len(test_x), dtype=torch.long))
        self.config = flsim.Config(target_class=2)


def test_predictors_on_a_model_with_known_answers():
    train = torch.zeros(4, 1, 1, 2)
    train[0, 0, 0] = torch.tensor([3.0, 4.0])  # norm 5
    train[1, 0, 0] = torch.tensor([6.0, 8.0])  # norm 10, same direction
    train[2, 0, 0] = torch.tensor([0.0, 2.0])  # norm 2, another direction
    test = torch.zeros(2, 1, 1, 2)
    test[:, 0, 0] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # clean norm 1
    federation = _Federation(train, test)
    same = semantic.backdoor_predictors(federation, [0, 1])
    assert same["poisoned_error"] == pytest.approx(0.5)  # p_target = 1/2 for every image
    assert same["activation_scale"] == pytest.approx(7.5)
    assert same["similarity"] == pytest.approx(1.0)
    mixed = semantic.backdoor_predictors(federation, [0, 2])
    assert mixed["activation_scale"] == pytest.approx(3.5)
    assert mixed["similarity"] == pytest.approx(0.8)  # cos between (3, 4) and (0, 2)
    assert semantic.backdoor_predictors(federation, [0, 1], target_class=0)["poisoned_error"] == pytest.approx(0.75)
    table = semantic.predictor_table(federation, {"same": [0, 1], "mixed": [0, 2]})
    assert list(table.index) == ["same", "mixed"]
    assert table.loc["mixed"].to_dict() == pytest.approx(mixed)
    assert table.loc["same"].to_dict() == pytest.approx(same)


def test_bootstrap_rank_correlation():
    x = np.arange(12.0)
    rho, low, high = semantic.bootstrap_rank_correlation(x, x ** 3)
    assert rho == pytest.approx(1.0) and low == pytest.approx(1.0) and high == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = x + rng.normal(0, 4, len(x))
    rho, low, high = semantic.bootstrap_rank_correlation(x, noisy)
    assert -1 <= low <= rho <= high <= 1 and high - low > 0.1
    assert (rho, low, high) == semantic.bootstrap_rank_correlation(x, noisy)  # seeded
    assert np.isnan(semantic.bootstrap_rank_correlation(x[:3], x[:3])[1])


def test_leave_one_group_out_predicts_from_the_other_groups():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"group": np.repeat(["a", "b", "c"], 6), "good": rng.normal(size=18),
                          "noise": rng.normal(size=18)})
    frame["y"] = 2 * frame.good + 1
    frame["up"] = frame.y > 1
    out = semantic.leave_one_group_out(frame, ["noise", "good"], "y", "group", label="up")
    assert (out.chosen == "good").all()
    assert np.allclose(out.predicted, out.y)  # an exact line, fitted without the held-out rows
    assert (out.predicted_label.astype(bool) == out.up).mean() >= 0.8
    # a held-out group's predictions do not use its own outcome
    moved = frame.copy()
    moved.loc[moved.group == "a", "y"] += 100
    again = semantic.leave_one_group_out(moved, ["good"], "y", "group")
    assert np.allclose(again.predicted[frame.group == "a"], out.predicted[frame.group == "a"])


def test_named_set_predictors_read_the_named_sets_from_the_configs_pretrained_model():
    config = flsim.Config(num_clients=2, samples_per_client=20, server_share=0.01, eval_samples=50)
    table = semantic.named_set_predictors(config, ["flat_sandals", "striped_tshirts"])
    assert list(table.index) == ["flat_sandals", "striped_tshirts"]
    sets = {name: attacks.semantic_indices(DATASET, name) for name in table.index}
    expected = semantic.predictor_table(flsim.setup(config), sets)
    pd.testing.assert_frame_equal(table, expected)
    with pytest.raises(ValueError, match="names: 'stripy'.*allowed: .*'striped_tshirts'"):
        semantic.named_set_predictors(config, ["striped_tshirts", "stripy"])
