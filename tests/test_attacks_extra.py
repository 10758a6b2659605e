"""The attacker behaviours beyond the paper: DBA, model replacement, norm bound, schedules, adaptive."""

import numpy as np
import pandas as pd
import pytest
import torch

import flsim
from flsim import attacks, experiment, federation
from flsim.layout import Layers
from flsim.attacks import Backdoor, stamp_trigger, trigger_mask
from flsim.attacks import submission
from flsim.attacks.submission import Submission, shape_submissions


@pytest.mark.parametrize("parts", [1, 2, 4])
def test_trigger_parts_tile_the_trigger(parts):
    masks = torch.stack([trigger_mask(p, parts) for p in range(parts)])
    assert masks.sum(0).eq(1).all()  # every pixel in exactly one part
    assert masks.sum((1, 2)).eq(16 // parts).all()
    with pytest.raises(ValueError, match="part"):
        trigger_mask(parts, parts)


def test_a_part_stamps_only_its_pixels_of_the_full_trigger():
    x = torch.full((2, 1, 10, 10), 0.5)
    full = stamp_trigger(x)
    assert torch.equal(stamp_trigger(x, 0, 1), full)
    part = stamp_trigger(x, 1, 4)  # top-right quadrant of the 4 x 4 trigger
    changed = part.ne(0.5)
    assert torch.equal(part[changed], full[changed])
    assert changed[:, 0, -5:-3, -3:-1].all() and changed.sum() == 2 * 4  # 2 images x the quadrant's 4 pixels


def test_dba_attackers_stamp_their_own_part():
    x = torch.full((30, 1, 8, 8), 0.5)
    backdoor = Backdoor("trigger", 0, torch.tensor([]), None, x, torch.zeros(30), trigger_parts=2)
    for attacker in range(3):
        px, py = backdoor.poison(x, torch.full((30,), 3), num_malicious=3, malicious_data_rate=2, attacker=attacker)
        expected = stamp_trigger(x[:1], attacker % 2, 2)
        assert torch.equal(px[0], expected[0]) and py[0] == 0 and py[1] == 3
    fake = type("D", (), dict(name="fashion_mnist", test_x=x, test_y=torch.arange(30) % 10))
    made = attacks.make_backdoor("trigger", fake, 2, trigger_parts=4)
    assert made.trigger_parts == 4
    assert torch.equal(made.eval_x, stamp_trigger(x[fake.test_y != 2]))  # evaluated with the whole trigger


def test_default_config_keeps_the_papers_attacker():
    c = flsim.Config()
    assert (c.attack_schedule, c.attack_scale, c.attack_norm_bound, c.trigger_parts, c.adaptive) == (
        "pool", 1.0, None, 1, "none")


@pytest.mark.parametrize("changes, words", [
    (dict(attack_schedule="sometimes"), ["attack_schedule", "pool", "every_round", "single_shot"]),
    (dict(attack_schedule="single_shot", attack_round=11), ["attack_round", "num_rounds=10"]),
    (dict(attack_scale=0.0), ["attack_scale", "> 0"]),
    (dict(attack_norm_bound=-1.0), ["attack_norm_bound", "> 0"]),
    (dict(trigger_parts=3, attack="trigger"), ["trigger_parts", "1, 2, 4"]),
    (dict(trigger_parts=2), ["trigger_parts", "attack='trigger'", "semantic"]),
    (dict(adaptive="yes"), ["adaptive", "output_bias", "output_layer"]),
    (dict(attack_schedule="every_round", num_malicious=3, clients_per_round=2), ["every_round", "clients_per_round=2"]),
])
def test_bad_attacker_settings_name_the_parameter(changes, words):
    with pytest.raises(flsim.ConfigError) as error:
        flsim.Config(**changes)
    for word in words:
        assert word in str(error.value)


def test_schedules_choose_the_attackers():
    rng = np.random.default_rng(0)
    every = flsim.Config(num_clients=10, clients_per_round=4, num_malicious=2, attack_schedule="every_round")
    for round_ in range(1, 6):
        chosen = federation.choose_clients(every, round_, rng)
        assert len(chosen) == 4 and {0, 1} <= set(chosen.tolist()) and len(set(chosen.tolist())) == 4
    shot = every.replace(attack_schedule="single_shot", attack_round=3)
    assert {0, 1} <= set(federation.choose_clients(shot, 3, rng).tolist())
    assert [federation.attacks_in(shot, r) for r in (1, 2, 3, 4)] == [False, False, True, False]
    assert all(federation.attacks_in(every, r) for r in (1, 2, 3))


def shaped(config, weights, global_weights, chosen, malicious, layers, honest):
    """The round's rows as the attackers submit them under ``config`` (round 1)."""
    def context(client):
        return Submission(config, 1, client, global_weights, None, layers, lambda: honest(client), None)

    return shape_submissions(weights, chosen, malicious, context)


def test_attack_submissions_scale_replace_and_project():
    g = torch.zeros(6)
    layers = Layers({"fc2.weight": slice(0, 2), "fc2.bias": slice(2, 4), "fc1.weight": slice(4, 6)}, "fc2")
    trained = torch.tensor([[1.0, 0, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    chosen, malicious = np.array([0, 5]), np.array([True, False])
    honest = {0: torch.tensor([9.0, 9, 0.5, 0.5, 9, 9])}.__getitem__
    config = flsim.Config(attack_scale=3.0)
    out = shaped(config, trained.clone(), g, chosen, malicious, layers, honest)
    assert out[0].tolist() == [3, 0, 3, 0, 0, 0] and torch.equal(out[1], trained[1])
    adaptive = config.replace(adaptive="output_bias")  # scaled, then the clean model's output bias
    out = shaped(adaptive, trained.clone(), g, chosen, malicious, layers, honest)
    assert out[0].tolist() == [3, 0, 0.5, 0.5, 0, 0]
    layer = config.replace(adaptive="output_layer", attack_scale=1.0)
    out = shaped(layer, trained.clone(), g, chosen, malicious, layers, honest)
    assert out[0].tolist() == [9, 9, 0.5, 0.5, 0, 0]
    bounded = config.replace(attack_norm_bound=1.5)  # (3, 0, 3) has norm 4.24: projected onto the ball
    out = shaped(bounded, trained.clone(), g, chosen, malicious, layers, honest)
    assert out[0].norm().item() == pytest.approx(1.5) and out[0][0].item() == pytest.approx(out[0][2].item())
    untouched = shaped(flsim.Config(), trained.clone(), g, chosen, malicious, layers, honest)
    assert torch.equal(untouched, trained)


def test_single_shot_attacks_in_its_round_only(tiny_config):
    res = flsim.run(tiny_config.replace(num_rounds=3, attack_schedule="single_shot", attack_round=2))
    attacked = res.defence.groupby("round").malicious.sum()
    assert attacked.tolist() == [0, 1, 0]
    assert res.detection[res.detection.malicious]["round"].unique().tolist() == [2]


def test_the_adaptive_attacker_submits_an_honest_output_bias(tiny_config):
    # The trigger attack keeps the honest pool unchanged, so round 1 of an attack-free run trains the
    # same clients from the same global model: the adaptive attacker's output bias is client 0's there.
    config = tiny_config.replace(num_rounds=1, attack="trigger", malicious_data_rate=2)
    adaptive = flsim.run(config.replace(adaptive="output_bias"))
    clean = flsim.run(config.replace(attack="none"))
    plain = flsim.run(config)
    columns = ["round", "client", "class", "deviation"]
    pd.testing.assert_frame_equal(adaptive.output_bias[columns], clean.output_bias[columns])
    assert not plain.output_bias.deviation.equals(clean.output_bias.deviation)
    # Its other layers still carry the poisoned training.
    fc2w = lambda r: r.updates[(r.updates.layer == "fc2.weight") & (r.updates.client == 0)].l2_deviation.item()
    assert fc2w(adaptive) == pytest.approx(fc2w(plain), rel=1e-4)


def test_model_replacement_scales_the_attackers_update(tiny_config):
    config = tiny_config.replace(num_rounds=1)
    plain = flsim.run(config)
    scaled = flsim.run(config.replace(attack_scale=4.0))
    norm = lambda r: r.detection[(r.detection.detector == "update_norm") & r.detection.malicious].score.item()
    assert norm(scaled) == pytest.approx(4 * norm(plain), rel=1e-4)
    bounded = flsim.run(config.replace(attack_scale=4.0, attack_norm_bound=0.01))
    assert norm(bounded) == pytest.approx(0.01, rel=1e-4)


def test_the_built_in_steps_apply_in_order_and_only_where_configured():
    steps = flsim.attacks.submission.steps_for
    assert list(steps(flsim.Config())) == []
    assert list(steps(flsim.Config(attack_scale=2.0, adaptive="output_bias", attack_norm_bound=1.0))) == [
        "model_replacement", "adaptive", "norm_bound"]
    assert list(steps(flsim.Config(attack_norm_bound=1.0))) == ["norm_bound"]


def keep_the_global_bias(weights, submission):
    """A user's step: the attacker submits the global model's output bias, its own bias update hidden."""
    where = submission.layers.output_bias
    shaped = weights.clone()
    shaped[where] = submission.global_weights[where]
    return shaped


def test_an_attack_step_added_from_outside_shapes_the_attackers_and_is_keyed(tiny_config):
    registry = flsim.attacks.submission.STEPS
    key = tiny_config.key()
    try:
        flsim.register_attack_step("keep_the_global_bias", keep_the_global_bias,
                                   applies=lambda config: config.attack_scale == 1.0)
        assert tiny_config.key() != key  # a step that changes the submissions changes the key
        assert tiny_config.replace(attack_scale=2.0).key() == tiny_config.replace(attack_scale=2.0).key()
        assert "attack_steps" in tiny_config.key_settings()
        assert "attack_steps" not in tiny_config.replace(attack_scale=2.0).key_settings()
        # Applied to the attacking rows only, after the built-in steps:
        g = torch.zeros(6)
        layers = Layers({"fc2.weight": slice(0, 2), "fc2.bias": slice(2, 4), "fc1.weight": slice(4, 6)}, "fc2")
        trained = torch.ones(2, 6)
        out = shaped(tiny_config, trained.clone(), g, np.array([0, 5]), np.array([True, False]), layers, None)
        assert out[0].tolist() == [1, 1, 0, 0, 1, 1] and torch.equal(out[1], trained[1])
        # ... and by the round loop: the attacker's output-bias deviation is no longer its own.
        stepped = flsim.run(tiny_config, cache=False)
        registry.pop("keep_the_global_bias")
        plain = flsim.run(tiny_config, cache=False)
        attacker = stepped.output_bias.malicious
        assert not np.allclose(stepped.output_bias.deviation[attacker], plain.output_bias.deviation[attacker])
        pd.testing.assert_frame_equal(stepped.rounds.iloc[:1].drop(columns="seconds"),
                                      plain.rounds.iloc[:1].drop(columns="seconds"))  # the same pre-training
    finally:
        registry.pop("keep_the_global_bias", None)
    with pytest.raises(TypeError, match="applies must be callable"):
        flsim.register_attack_step("x", keep_the_global_bias, applies=True)


LP_LAYERS = Layers({"fc1.weight": slice(0, 2), "fc2.weight": slice(2, 4), "fc2.bias": slice(4, 6)}, "fc2")


def backdoor_of(malicious):
    """A stand-in evaluation: the backdoor lives in fc2.bias (0.6) and fc1.weight (0.3), wherever a model
    holds the malicious model's values of those tensors."""
    def evaluate(weights):
        share = sum(value for name, value in (("fc2.bias", 0.6), ("fc1.weight", 0.3))
                    if torch.equal(weights[LP_LAYERS[name]], malicious[LP_LAYERS[name]]))
        return dict(backdoor_accuracy=share)
    return evaluate


def test_the_lp_attackers_non_critical_tensors_are_its_honest_training():
    malicious, honest = torch.arange(6.0) + 10, torch.arange(6.0)
    evaluate = backdoor_of(malicious)
    # 0.9 of its own 0.9 needs both tensors that carry it; 0.6 of it, fc2.bias alone.
    assert submission.critical_tensors(malicious, honest, LP_LAYERS, 1.0, evaluate) == ["fc2.bias", "fc1.weight"]
    assert submission.critical_tensors(malicious, honest, LP_LAYERS, 0.6, evaluate) == ["fc2.bias"]
    assert submission.critical_tensors(malicious, honest, LP_LAYERS, 0.9, backdoor_of(honest - 1)) == []
    config = flsim.Config(lp_threshold=0.6)
    context = Submission(config, 2, 0, torch.zeros(6), None, LP_LAYERS, lambda: honest, evaluate)
    shaped = submission.lp(malicious, context)
    assert torch.equal(shaped[LP_LAYERS["fc2.bias"]], malicious[LP_LAYERS["fc2.bias"]])
    for name in ("fc1.weight", "fc2.weight"):  # not critical: as honest training left them
        assert torch.equal(shaped[LP_LAYERS[name]], honest[LP_LAYERS[name]])


def test_a_neurotoxin_update_is_zero_outside_its_mask():
    torch.manual_seed(0)
    previous, g, trained = torch.randn(100), torch.randn(100), torch.randn(100)
    config = flsim.Config(neurotoxin_top=0.1)
    context = Submission(config, 2, 0, g, previous, LP_LAYERS, None, None)
    update = submission.neurotoxin(trained, context) - g
    moved_most = (g - previous).abs().topk(10).indices
    assert torch.count_nonzero(update[moved_most]) == 0  # off the coordinates the last update moved most
    kept = torch.ones(100, dtype=torch.bool)
    kept[moved_most] = False
    torch.testing.assert_close(update[kept], (trained - g)[kept])
    first = Submission(config, 1, 0, g, None, LP_LAYERS, None, None)
    assert torch.equal(submission.neurotoxin(trained, first), trained)  # round 1: no global update seen yet


def test_neurotoxin_and_lp_run_as_steps_with_their_options_checked(tiny_config):
    both = tiny_config.replace(num_rounds=2, neurotoxin_top=0.05, lp_threshold=0.9)
    assert list(submission.steps_for(both)) == ["lp", "neurotoxin"]
    assert both.key() != both.replace(neurotoxin_top=0.1).key()
    assert tiny_config.replace(krum_f=2).key() == tiny_config.key()
    results = flsim.run(both, cache=False)
    assert len(results.rounds) == 3 and results.detection.malicious.any()
    for name, value in (("neurotoxin_top", 0.0), ("lp_threshold", 1.5)):
        with pytest.raises(flsim.ConfigError, match=rf"{name} must be between 0 \(excluded\) and 1"):
            tiny_config.replace(**{name: value})
