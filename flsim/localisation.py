"""Where a backdoor lives: the attacker's update, tensor by tensor, by substitution (chapter 10).

The book's other measures ask where an attacker's update is *anomalous*; these
ask where its backdoor *is*. For each attacker of round 1 and each parameter
tensor T of its model (Zhuang et al., ICLR 2024, layer substitution):

- ``alone``: the global model with only T taken from the attacker's model (T's
  malicious update applied, nothing else);
- ``without``: the attacker's model with T reset to the global model's;

each with its backdoor and main accuracy, beside the attacker's own model and
the global model. The attacker's *backdoor-critical* tensors are the fewest
that, put together into the global model, keep ``threshold`` of its own
backdoor accuracy (:func:`flsim.attacks.submission.critical_tensors`, the LP
attack's choice).
"""

from __future__ import annotations

import pandas as pd
import torch

from .analysis.statistics import bootstrap_mean  # noqa: F401 - also the chapters' localisation.bootstrap_mean
from .attacks.submission import critical_tensors
from .config import Config, ConfigError, require_config, require_number
from .federation import Federation, first_round_attackers, setup
from .train import exact_fp32
from .workers import intra_op_threads


def substitution(config: Config, threshold: float = 0.9) -> pd.DataFrame:
    """One row per attacker of round 1 of ``flsim.run(config)`` and parameter tensor (model order):
    ``client``, ``tensor``, the backdoor and main accuracy with the tensor ``alone`` and ``without`` it (see
    the module's doc), the attacker's ``own_`` and the ``global_`` accuracies, and ``critical`` (whether
    the tensor is among the attacker's backdoor-critical tensors at ``threshold``) with its ``order`` among
    them (1: the first chosen; 0: not critical).

    The attackers are :func:`round_one_attackers`'. Accuracies are those of ``Federation.evaluate``: the
    backdoor measured as :mod:`flsim.attacks` defines it.
    """
    config = require_config(config, "substitution")
    threshold = require_number("threshold", threshold, 0, 1, low_open=True)
    if config.attack == "none":
        raise ConfigError("substitution needs an attack: config.attack is 'none'")
    if not len(first_round_attackers(config)):
        raise ConfigError(f"substitution reads round 1's attackers, and round 1 of this config has none "
                          f"(num_malicious={config.num_malicious}, clients_per_round={config.clients_per_round}, "
                          f"attack_schedule={config.attack_schedule!r}, seed={config.seed}); give num_malicious >= 1 "
                          "with every client chosen, or a seed whose round 1 chooses an attacker")
    federation, attackers = round_one_attackers(config)
    start, layers, evaluate = federation.global_weights, federation.trainer.layers, federation.evaluate
    with exact_fp32():  # on all of torch's threads: an accuracy does not depend on them
        return pd.DataFrame([row for client, attacker in attackers.items()
                             for row in _rows(client, attacker, start, layers, evaluate, threshold)])


def round_one_attackers(config: Config) -> tuple[Federation, dict[int, torch.Tensor]]:
    """The federation of ``config`` (:func:`flsim.setup`) and its round-1 attackers' models by client, trained
    from the pre-trained global model as ``flsim.run(config)`` trains them (the same bits on the
    sequential backend; honest clients are not trained), before any attack step shapes them."""
    federation = setup(config)
    round_ = federation.round(1)
    attackers = {}
    with intra_op_threads(1), exact_fp32():  # as a run trains a client
        for client, attacks, data, order in zip(round_.chosen, round_.malicious, round_.datasets, round_.orders):
            if attacks:
                attackers[int(client)] = federation.trainer.train(federation.global_weights, *data,
                                                                  config.local_epochs, order)
    return federation, attackers


def _rows(client: int, attacker: torch.Tensor, start: torch.Tensor, layers, evaluate, threshold: float) -> list:
    own, initial = evaluate(attacker), evaluate(start)
    critical = critical_tensors(attacker, start, layers, threshold, evaluate)
    rows = []
    for name, where in layers.items():
        alone, without = start.clone(), attacker.clone()
        alone[where], without[where] = attacker[where], start[where]
        alone, without = evaluate(alone), evaluate(without)
        rows.append(dict(client=client, tensor=name,
                         backdoor_alone=alone["backdoor_accuracy"], main_alone=alone["main_accuracy"],
                         backdoor_without=without["backdoor_accuracy"], main_without=without["main_accuracy"],
                         own_backdoor=own["backdoor_accuracy"], own_main=own["main_accuracy"],
                         global_backdoor=initial["backdoor_accuracy"], global_main=initial["main_accuracy"],
                         critical=name in critical, order=critical.index(name) + 1 if name in critical else 0))
    return rows


def taken_apart(configs: dict, threshold: float = 0.9, names=("backdoor", "seed")) -> pd.DataFrame:
    """:func:`shares` of :func:`substitution` at ``threshold`` for each config of ``configs`` (key -> Config),
    stacked, each key's parts in the columns ``names`` (chapter 10: a backdoor and a seed)."""
    return pd.concat([shares(substitution(config, threshold)).assign(**dict(zip(names, key)))
                      for key, config in configs.items()], ignore_index=True)


def shares(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (:func:`substitution`'s rows, any number of runs) with the causal shares of each tensor:
    ``share_alone``, the part of the attacker's own backdoor accuracy (above the global model's) that the
    tensor brings alone, and ``share_removed``, the part that resetting it takes away; NaN where the
    attacker's model does not beat the global model on the backdoor."""
    gained = table.own_backdoor - table.global_backdoor
    gained = gained.where(gained > 0)
    return table.assign(share_alone=(table.backdoor_alone - table.global_backdoor) / gained,
                        share_removed=(table.own_backdoor - table.backdoor_without) / gained)


def tensor_shares(table: pd.DataFrame, by: str = "backdoor", level: float = 0.95) -> pd.DataFrame:
    """Per ``by`` and tensor (in the model's order), over the attacker models of :func:`shares`' rows (e.g.
    one per seed) that learned the backdoor (own backdoor accuracy above the global model's): the mean
    ``share_alone`` and ``share_removed`` with their :func:`flsim.analysis.bootstrap_mean` intervals
    (``_lo``, ``_hi``), and in how many of those ``models`` the tensor is ``critical`` (chapter 10)."""
    learned = table[table.own_backdoor > table.global_backdoor]
    rows = []
    for (group, tensor), part in learned.groupby([by, "tensor"], sort=False):
        row = {by: group, "tensor": tensor, "models": len(part), "critical": int(part.critical.sum())}
        for column in ("share_alone", "share_removed"):
            row.update(zip((column, f"{column}_lo", f"{column}_hi"), bootstrap_mean(part[column], level)))
        rows.append(row)
    return pd.DataFrame(rows)
