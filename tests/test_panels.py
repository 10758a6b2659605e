"""Panels (flsim/panels.py): attackers facing one honest cohort give each member the bits of its own run."""

import numpy as np
import pandas as pd
import pytest

import flsim
from flsim import attacks, cache, panels
from flsim.config import ConfigError
from flsim.train import FlatTrainer

from .test_sweep import assert_same_results

VARIANTS = [dict(semantic_set="striped_tshirts"), dict(semantic_set="flat_sandals", malicious_data_rate=2),
            dict(attack="trigger", num_rounds=2), dict(attack="none")]


@pytest.fixture
def members(tiny_config):
    return flsim.panel_configs(tiny_config.replace(num_rounds=1), VARIANTS)


def test_panel_configs_keep_every_semantic_backdoors_images_out_of_the_pool(members):
    both = set(attacks.SEMANTIC_SETS["fashion_mnist"]["striped_tshirts"]) | set(
        attacks.SEMANTIC_SETS["fashion_mnist"]["flat_sandals"])
    assert all(set(c.excluded_indices) == both for c in members)
    federation = flsim.setup(members[2])  # the trigger's clients hold none of them either
    images = federation.dataset.train_x[sorted(both)]
    held = np.concatenate([x.reshape(len(x), -1).numpy() for x, _ in federation.clean_data])
    assert not (held[:, None, :] == images.reshape(len(images), -1).numpy()[None]).all(-1).any()


def test_each_member_is_the_bits_of_its_own_run(members):
    together = flsim.panel(members)
    for config, result in zip(members, together):
        assert result.config == config
        alone = flsim.run(config, cache=False)
        assert_same_results(result, alone)
        assert np.array_equal(result.final_weights, alone.final_weights)
    # round 1's honest clients alike in every member (one cohort), the attackers not
    norms = [r.detection[(r.detection.detector == "update_norm") & (r.detection["round"] == 1)]
             .set_index("client").score for r in together]
    for other in norms[1:]:
        pd.testing.assert_series_equal(norms[0].loc[1:], other.loc[1:])
    assert len({float(n.loc[0]) for n in norms}) == len(norms)
    assert len(together[2].rounds) == 3  # a member may run more rounds than round 1


def test_members_are_cached_and_a_second_panel_computes_nothing(members, monkeypatch):
    flsim.panel(members[:2])
    assert all(cache.load_cached(c) is not None for c in members[:2])
    computed, real = [], panels._compute
    monkeypatch.setattr(panels, "_compute", lambda configs, *a: computed.append(configs) or real(configs, *a))
    again = flsim.panel(members)
    assert [c.key() for c in computed[0]] == [c.key() for c in members[2:]]  # only the two not cached
    pd.testing.assert_frame_equal(again[0].updates, cache.load_cached(members[0]).updates)


def test_configs_that_share_no_cohort_are_refused(members):
    with pytest.raises(ConfigError, match="may differ only in their attack .* lr is 0.01 in the first and 0.1"):
        flsim.panel([members[0], members[1].replace(lr=0.1)])
    apart = [c.replace(excluded_indices=None) for c in members[:2]]
    with pytest.raises(ConfigError, match="keep different images out of the honest pool: set excluded_indices"):
        flsim.panel(apart)


def test_excluded_indices_are_checked_and_hashed_as_a_set(tiny_config):
    with pytest.raises(ConfigError, match="excluded_indices must be integers from 0 to 59999"):
        tiny_config.replace(excluded_indices=(3, 60000))
    with pytest.raises(ConfigError, match="excluded_indices must not repeat an index"):
        tiny_config.replace(excluded_indices=(3, 3))
    assert tiny_config.replace(excluded_indices=np.array([5, 3])).excluded_indices == (5, 3)
    assert tiny_config.replace(excluded_indices=(5, 3)).key() == tiny_config.replace(excluded_indices=[3, 5]).key()
    assert tiny_config.replace(excluded_indices=()).key() == tiny_config.key()
    assert tiny_config.replace(excluded_indices=(3,)).key() != tiny_config.key()


def test_the_readme_example_runs_and_its_members_share_one_pool():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in readme.split("```python")[1:] if "flsim.panel(" in b).split("```")[0]
    scope = {"flsim": flsim}
    exec(compile(block, "<README.md panel example>", "exec"), scope)
    assert [r.config for r in scope["results"]] == scope["members"]
    assert len({c.excluded_indices for c in scope["members"]}) == 1


def test_members_that_differ_only_in_the_submission_train_their_attacker_once(tiny_config, monkeypatch):
    plain = tiny_config.replace(num_rounds=1, semantic_set="striped_tshirts", malicious_data_rate=2)
    members = [plain, plain.replace(attack_scale=5.0), plain.replace(malicious_data_rate=3)]
    clients, real = [], FlatTrainer.train_clients
    monkeypatch.setattr(FlatTrainer, "train_clients",
                        lambda self, start, datasets, *a, **k: clients.append(len(datasets))
                        or real(self, start, datasets, *a, **k))
    together = flsim.panel(members)
    attackers = plain.num_malicious
    # the cohort (its honest clients and the plain member's attackers, which the scaled member
    # reuses) and r = 3's attackers
    assert clients == [plain.num_clients + attackers]
    monkeypatch.setattr(FlatTrainer, "train_clients", real)
    for config, result in zip(members, together):
        assert_same_results(result, flsim.run(config, cache=False))
