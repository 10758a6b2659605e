"""Panels: several attackers facing one honest cohort, whose training is shared (chapter 4's map).

Configs that differ only in their attack (``ATTACK_FIELDS``) and their number of
rounds, on the same honest pool, start from the same federation: the same split,
pre-trained server model and round-1 honest clients. :func:`flsim.panel` builds that
federation once, trains round 1's honest clients once and every member's
attackers beside them, then runs each member's rounds on its own. Each member's
Results are the bits ``flsim.run(member)`` gives (``tests/test_panel.py``) and are
cached under its key, so a panel is a faster way to compute its members, not a
different experiment.

The pool is where a panel differs from separate runs: a semantic backdoor keeps
its own images out of the honest clients' data, so a panel's members keep out the
images of all its semantic backdoors (``Config.excluded_indices``, which
:func:`flsim.panel_configs` sets).
"""

from __future__ import annotations

import time

import torch

from . import attacks
from .cache import load_cached, store
from .config import Config, ConfigError, require_config, require_configs
from .experiment import TrainedRound, simulate, simulate_rounds
from .federation import Federation, build
from .identity import training_backend
from .results import Results
from .train import exact_fp32
from .workers import intra_op_threads

ATTACK_FIELDS = ("attack", "semantic_set", "semantic_indices", "target_class", "malicious_data_rate",
                 "trigger_parts", "attack_scale", "attack_norm_bound", "adaptive")
_FREE = (*ATTACK_FIELDS, "num_rounds", "excluded_indices", "data_dir")  # may differ between members


def panel_configs(base: Config, variants: list[dict]) -> list[Config]:
    """``base`` with each of ``variants`` (attack fields, e.g. ``dict(attack="trigger")``), all on one
    pool: ``excluded_indices`` holds the images of every semantic backdoor among them (and base's own)."""
    base = require_config(base, "flsim.panel_configs")
    if isinstance(variants, dict) or not isinstance(variants, (list, tuple)):
        raise ConfigError(f"flsim.panel_configs takes its variants as a list of dicts, got {type(variants).__name__}"
                          " (one variant: [dict(...)])")
    for position, variant in enumerate(variants):
        if not isinstance(variant, dict):
            raise ConfigError(f"flsim.panel_configs takes its variants as a list of dicts of Config fields; "
                              f"variant {position} is {type(variant).__name__} {variant!r:.60}")
        _check_fields(variant, f"variant {position}")
    members = [base.replace(**variant) for variant in variants]
    excluded = set(base.excluded_indices or ()).union(*(_backdoor_images(c) for c in [base, *members]))
    return [c.replace(excluded_indices=tuple(sorted(excluded)) or None) for c in members]


def panel(configs: list[Config], progress: bool = False) -> list[Results]:
    """Results of ``configs``, in order, each the bits ``flsim.run(config)`` gives; those not in the
    result cache share their federation and round 1's honest clients (module docstring).

    The configs may differ only in ``ATTACK_FIELDS`` and ``num_rounds``, on the same pool
    (:func:`panel_configs` makes such configs); ConfigError names the field that differs. Where
    nothing can be shared bit for bit (``record="rounds"``, the batched backend on a GPU) the
    members run one by one. No configs give no results (``[]``); anything but Configs is named.
    """
    configs = require_configs(configs, "flsim.panel")
    if not configs:
        return []  # no members, no results (as sweep([]) and a comprehension give)
    _check_members(configs)
    results = [load_cached(c) for c in configs]
    missing = list({c.key(): c for c, r in zip(configs, results) if r is None}.values())
    if missing:
        workers = torch.get_num_threads()
        with intra_op_threads(1), exact_fp32():
            done = {r.config.key(): r for r in _compute(missing, workers, progress)}
        for result in done.values():
            store(result)
        results = [r if r is not None else done[c.key()] for c, r in zip(configs, results)]
    return results


def _compute(configs: list[Config], workers: int, progress: bool) -> list[Results]:
    first = configs[0]
    if training_backend(first) != "sequential" or first.record == "rounds":
        return [simulate(c, progress) for c in configs]  # a batched round's bits depend on its batch
    start = time.perf_counter()
    cohort = build(first, workers)
    members = [cohort, *(build(c, workers, cohort=cohort) for c in configs[1:])]
    share = (time.perf_counter() - start) / len(members)  # building and pre-training, shared alike
    firsts = _first_rounds(members)
    results = []
    for member, first in zip(members, firsts):
        member.pretraining_seconds = share
        results.append(simulate_rounds(member, progress, first))
    return results


def _first_rounds(members: list[Federation]) -> list[TrainedRound]:
    """Round 1 of every member, trained in one call: each honest client once, each member's attackers
    (once for members whose attackers train on the same data, as a scaled attack and its plain one)."""
    rounds = [m.round(1) for m in members]
    jobs = {}  # (client, None) for a clean client, (client, member) for an attacker: its data and batch order
    position = {}  # each job's row in the trained matrix
    rows = []
    for index, round_ in enumerate(rounds):
        row = []
        for client, attacks, dataset, order in zip(round_.chosen, round_.malicious, round_.datasets,
                                                   round_.orders):
            key = (int(client), index if attacks else None)
            if attacks:  # members that differ only in what the attacker submits train it once
                key = next((k for k in jobs if k[0] == key[0] and k[1] is not None
                            and _same_training(jobs[k], (dataset, order))), key)
            if key not in jobs:
                jobs[key], position[key] = (dataset, order), len(jobs)
            row.append(position[key])
        rows.append(row)
    start = time.perf_counter()
    cohort = members[0]
    trained = cohort.trainer.train_clients(cohort.global_weights, [d for d, _ in jobs.values()],
                                           cohort.config.local_epochs, [o for _, o in jobs.values()])
    seconds = (time.perf_counter() - start) / len(members)
    return [TrainedRound(round_, trained[index], seconds) for round_, index in zip(rounds, rows)]


def _same_training(job, other) -> bool:
    """Whether two clients' (data, batch order) jobs train the same model from the same start."""
    (data, order), (other_data, other_order) = job, other
    return (all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(data, other_data))
            and torch.equal(order.get_state(), other_order.get_state()))


def _backdoor_images(config: Config) -> set[int]:
    """The training images ``config``'s backdoor keeps out of the honest pool."""
    if config.attack != "semantic":
        return set()
    return set(attacks.semantic_indices(config.dataset, config.semantic_set, config.semantic_indices))


def _check_fields(variant: dict, what: str) -> None:
    """A variant may set only the fields a panel's members may differ in (``_FREE``)."""
    for name in variant:
        if name in Config.__dataclass_fields__ and name not in _FREE:
            raise ConfigError(f"{what} sets {name}, which a panel's members share: they may differ only in their "
                              f"attack ({', '.join(ATTACK_FIELDS)}) and num_rounds; set {name} in the base config")


def _check_members(configs: list[Config]) -> None:
    first = configs[0]
    shared = {k: v for k, v in first.to_dict().items() if k not in _FREE}
    for config in configs[1:]:
        for name, value in shared.items():
            if getattr(config, name) != value:
                raise ConfigError(f"a panel's configs may differ only in their attack ({', '.join(ATTACK_FIELDS)}) "
                                  f"and num_rounds; {name} is {value!r} in the first and {getattr(config, name)!r} "
                                  "in another")
    pools = {frozenset(_backdoor_images(c) | set(c.excluded_indices or ())) for c in configs}
    if len(pools) > 1:
        raise ConfigError("a panel's configs keep different images out of the honest pool: set excluded_indices "
                          "to the union of their semantic backdoors' images (flsim.panel_configs does)")
