"""Users' own models, aggregation rules and semantic backdoors: registered, cached by what they are, run anywhere."""

import numpy as np
import pytest
import torch
from torch import nn

import flsim
from flsim import aggregators, models
from flsim.aggregators import Aggregation

from .conftest import TINY


def small_net(input_shape, num_classes):
    """An output layer named "head", not fc2, and no written-out SGD step: the autograd path."""
    return _SmallNet(input_shape, num_classes)


class _SmallNet(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), 32), nn.ReLU())
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.fixture
def registered():
    """Registrations made by a test are removed after it."""
    before = {name: dict(registry) for name, registry in flsim.registry.REGISTRIES.items()}
    yield
    for name, registry in flsim.registry.REGISTRIES.items():
        registry.clear()
        registry.update(before[name])


def test_a_model_whose_output_layer_is_not_fc2_runs_and_is_read_by_every_table(registered):
    flsim.register_model("small", small_net, output_layer="head")
    results = flsim.run(flsim.Config(model="small", **TINY))
    assert results.output_layer == "head" and results.output_bias_tensor == "head.bias"
    assert list(dict.fromkeys(results.updates.layer)) == ["body.1.weight", "body.1.bias", "head.weight", "head.bias"]
    assert sorted(results.output_bias["class"].unique()) == list(range(10))
    assert set(results.detection.detector) == set(flsim.detectors.DETECTORS)
    assert results.detection.score.notna().all()
    assert models.sgd_step_for(_SmallNet((1, 28, 28), 10)) is None  # it trains by autograd


def test_the_output_layer_defaults_to_the_last_linear_and_is_checked(registered):
    spec = flsim.register_model("small_default", small_net)
    assert models.output_layer_of(spec.build((1, 28, 28), 10)) == "head"
    bad = flsim.register_model("small_bad", small_net, output_layer="body")
    with pytest.raises(ValueError, match=r"output_layer='body'.*'body.1', 'head'"):
        bad.build((1, 28, 28), 10)


def test_a_models_code_and_shapes_are_in_the_cache_key(registered):
    flsim.register_model("small", small_net)
    config = flsim.Config(model="small", **TINY)
    first = config.key()

    def wider(input_shape, num_classes):  # same classes, other shapes
        model = _SmallNet(input_shape, num_classes)
        model.head = nn.Linear(32, num_classes, bias=True)
        model.body[1] = nn.Linear(int(np.prod(input_shape)), 32)
        return model

    flsim.register_model("small", wider)
    assert config.key() != first  # another factory's source
    flsim.register_model("small", small_net, version="1")
    versioned = config.key()
    flsim.register_model("small", wider, version="1")
    assert config.key() == versioned  # the user's version is the identity
    flsim.register_model("small", small_net, version="2")
    assert config.key() != versioned


def test_built_in_names_cannot_be_replaced_and_unknown_names_are_named():
    with pytest.raises(ValueError, match="built in"):
        flsim.register_model("paper_cnn", small_net)
    with pytest.raises(flsim.ConfigError, match=r"model='smal'.*register_model"):
        flsim.Config(model="smal")
    with pytest.raises(ValueError, match="version="):
        flsim.register_model("no_source", eval("lambda shape, classes: None"))


def drop_largest_update(weights, global_weights, server, chosen):
    norms = (weights - global_weights).norm(dim=1)
    keep = norms < norms.max()
    return Aggregation(weights[keep].mean(0), keep)


def test_a_users_rule_aggregates_and_decides(registered):
    flsim.register_aggregator("drop_largest", drop_largest_update)
    results = flsim.run(flsim.Config(aggregator="drop_largest", **TINY))
    per_round = results.defence.groupby("round").accepted.sum()
    assert per_round.tolist() == [TINY["num_clients"] - 1] * TINY["num_rounds"]


def test_a_rule_may_return_weights_only_and_bad_returns_are_named(registered):
    flsim.register_aggregator("plain_mean", lambda w, g, server, chosen: w.mean(0), version="1")
    results = flsim.run(flsim.Config(aggregator="plain_mean", **TINY))
    assert results.defence.accepted.isna().all()
    fedavg = flsim.run(flsim.Config(**TINY))
    assert np.array_equal(results.final_weights, fedavg.final_weights)  # the same rule as FedAvg, the same bits
    flsim.register_aggregator("broken", lambda w, g, server, chosen: w, version="1")
    with pytest.raises(ValueError, match=r"aggregator 'broken' must return the new global weights"):
        flsim.run(flsim.Config(aggregator="broken", **TINY))


def test_a_rules_source_is_in_the_cache_key(registered):
    flsim.register_aggregator("mine", drop_largest_update)
    config = flsim.Config(aggregator="mine", **TINY)
    first = config.key()
    flsim.register_aggregator("mine", lambda w, g, server, chosen: w.mean(0), version="1")
    assert config.key() != first
    assert flsim.Config(**TINY).key() != first


NOTEBOOK_CELL = '''
import torch
def keep_all(weights, global_weights, server, chosen):
    return weights.mean(0)
def tiny_mlp(input_shape, num_classes):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, num_classes))
'''


def test_registrations_reach_sweep_worker_processes(registered):
    """Functions defined where no worker can import them (a notebook's cell) travel by value."""
    cell = {"__name__": "a_notebook_cell"}
    exec(NOTEBOOK_CELL, cell)
    flsim.register_aggregator("keep_all", cell["keep_all"], version="1")
    flsim.register_model("tiny_mlp", cell["tiny_mlp"], version="1")
    configs = [flsim.Config(model="tiny_mlp", aggregator="keep_all", seed=s, **TINY) for s in (0, 1)]
    swept = flsim.sweep(configs, workers=2)
    here = flsim.run(configs[0].replace(seed=2))
    assert [r.output_layer for r in swept] == ["3", "3"] == [here.output_layer] * 2
    assert all(len(r.updates) for r in swept)


def test_semantic_indices_are_a_backdoor_of_ones_own_and_keyed_by_the_images():
    named = flsim.Config(**TINY)
    same = flsim.Config(semantic_indices=list(flsim.attacks.SEMANTIC_SETS["fashion_mnist"]["striped_tshirts"]),
                        **TINY)
    assert isinstance(same.semantic_indices, tuple)
    assert same.key() == named.key()  # the same images, the same results
    other = flsim.Config(semantic_indices=(1, 2, 3), **TINY)
    assert other.key() != named.key()
    results = flsim.run(other)
    backdoor = flsim.attacks.make_backdoor("semantic", flsim.data.load("fashion_mnist"), 2, indices=(1, 2, 3))
    assert len(backdoor.eval_x) == 3 and results.rounds.backdoor_accuracy.between(0, 1).all()
    assert flsim.Config.from_strings({"semantic_indices": "1,2,3"}, flsim.Config(**TINY)) == other
    assert flsim.Config(dataset="mnist", semantic_indices=(5, 6)).semantic_indices == (5, 6)  # mnist has no sets


@pytest.mark.parametrize("values, message", [
    (dict(semantic_indices=(60000,)), "from 0 to 59999"),
    (dict(semantic_indices=(1, 1)), "must not repeat"),
    (dict(semantic_indices=()), "at least one"),
    (dict(semantic_indices=(1,), semantic_set="striped_tshirts"), "not both"),
    (dict(semantic_indices=(1,), attack="trigger"), "need attack='semantic'"),
    (dict(dataset="mnist"), "semantic_indices"),
])
def test_bad_semantic_indices_are_named(values, message):
    with pytest.raises(flsim.ConfigError, match=message):
        flsim.Config(**values)


def test_the_readmes_example_runs(registered):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    example = next(b for b in blocks if "register_model(" in b)
    import linecache

    name = "<README.md example>"  # its source readable, as a notebook cell's is
    linecache.cache[name] = (len(example), None, example.splitlines(True), name)
    namespace = {}
    exec(compile(example, name, "exec"), namespace)
    results = namespace["results"]
    assert results.output_bias_tensor == "3.bias" and results.config.semantic_indices == (26, 11744, 14254)
    assert results.defence.accepted.sum() == results.config.num_rounds * (results.config.num_clients - 1)


def bias_cosine_to_global(weights, global_weights, layers, gram):
    """A cosine (low is suspicious) that also reads the Gram matrix: both declarations exercised."""
    assert gram.shape == (len(weights), len(weights))
    bias = weights[:, layers.output_bias]
    return torch.nn.functional.cosine_similarity(bias, global_weights[layers.output_bias][None], dim=1)


def test_a_users_detector_is_scored_in_every_run_oriented_and_keyed(registered):
    config = flsim.Config(**TINY)
    before = config.key()
    spec = flsim.register_detector("bias_cosine", bias_cosine_to_global, reads_gram=True, suspicious="low")
    assert config.key() != before  # its scores are in the run's results
    assert flsim.Config(record="rounds", **TINY).key() == flsim.Config(record="rounds", **TINY).key()
    results = flsim.run(config)
    assert list(flsim.detectors.DETECTORS)[-1] == "bias_cosine"
    scores = results.detection[results.detection.detector == "bias_cosine"]
    assert len(scores) == TINY["num_rounds"] * TINY["num_clients"]
    assert (scores.score <= 1).all() and (scores.score >= -1).all()
    w, g = torch.randn(4, 9), torch.randn(9)
    layers = flsim.layout.Layers({"fc2.weight": slice(0, 6), "fc2.bias": slice(6, 9)}, "fc2")
    gram = flsim.robust.gram_matrix(w - g)
    assert torch.equal(spec(w, g, layers, gram), -bias_cosine_to_global(w, g, layers, gram))  # higher: suspicious


def test_a_detectors_declarations_are_checked(registered):
    with pytest.raises(ValueError, match=r"suspicious='lower' is not allowed; choose one of 'high', 'low'"):
        flsim.register_detector("x", bias_cosine_to_global, suspicious="lower")
    with pytest.raises(TypeError, match="score must be callable"):
        flsim.register_detector("x", 3)
    with pytest.raises(ValueError, match="detector 'update_norm' is built in"):
        flsim.register_detector("update_norm", bias_cosine_to_global)


def mean_below_threshold(weights, global_weights, server, chosen):
    """A user's rule with an option: FedAvg of the clients whose update norm is below filter_z times the median."""
    norms = (weights - global_weights).norm(dim=1)
    keep = norms <= server.config.filter_z * norms.median()
    return Aggregation(weights[keep].mean(0), keep)


def needs_a_positive_threshold(config):
    if config.filter_z < 1:
        raise flsim.ConfigError(f"aggregator='below_threshold' keeps the clients below filter_z times the median "
                                f"norm: filter_z must be >= 1, got {config.filter_z}")


def test_a_rule_option_is_one_declaration_read_checked_and_keyed(registered):
    flsim.register_aggregator("below_threshold", mean_below_threshold, options=("filter_z",),
                              check=needs_a_positive_threshold)
    config = flsim.Config(aggregator="below_threshold", **TINY)
    assert config.replace(filter_z=2.0).key() != config.key()  # the option it reads is in the key
    assert config.replace(krum_f=2).key() == config.key()  # one it does not read is not
    with pytest.raises(flsim.ConfigError, match="filter_z must be >= 1, got 0.5"):
        config.replace(filter_z=0.5)
    results = flsim.run(config.replace(filter_z=1.0))
    assert results.defence.accepted.sum() < len(results.defence)  # at most half the clients above the median


def test_unread_options_leave_the_key_only_where_every_plug_in_declares_its_own(registered):
    fedavg = flsim.Config(**TINY)
    assert fedavg.replace(krum_f=2).key() == fedavg.key()  # FedAvg reads no krum_f
    assert fedavg.replace(noise_sigma=0.1, trim_fraction=0.2).key() == fedavg.key()
    krum = fedavg.replace(aggregator="krum", krum_f=0)  # TINY's 4 clients tolerate no attacker by Krum's bound
    assert krum.replace(num_clients=5, krum_f=1).key() != krum.replace(num_clients=5).key()
    assert krum.replace(filter_z=2.0).key() == krum.key()
    scaled = fedavg.replace(attack_scale=2.0)
    assert scaled.replace(attack_norm_bound=1.0).key() != scaled.key()  # the bound's step then applies
    flsim.register_aggregator("undeclared", lambda w, g, server, chosen: w.mean(0), version="1")
    undeclared = fedavg.replace(aggregator="undeclared")
    assert undeclared.replace(krum_f=2).key() != undeclared.key()  # it may read any field: all of them count
    with pytest.raises(ValueError, match=r"options names 'filterz', which is no Config field \(did you mean "
                                         r"'filter_z'\?\)"):
        flsim.register_aggregator("typo", mean_below_threshold, options=("filterz",))
