"""The experiment configuration: one frozen dataclass, validated on creation.

Every field has the same name in code, on the command line (``key=value``) and
in the book's papermill parameters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass

DATASETS = ("fashion_mnist", "mnist", "cifar10")
PARTITIONS = ("iid", "dirichlet")
ATTACKS = ("none", "semantic", "trigger")
DEVICES = ("cpu", "cuda", "auto")
RECORDS = ("clients", "rounds")
AGGREGATORS = ("fedavg", "median", "trimmed_mean", "krum", "multi_krum", "norm_clip", "foolsgold", "flame",
               "rlr", "bias_filter")
ATTACK_SCHEDULES = ("pool", "every_round", "single_shot")
ADAPTIVE = ("none", "output_bias", "output_layer")
TRIGGER_PARTS = (1, 2, 4)


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the parameter."""


@dataclass(frozen=True)
class Config:
    """One federated-learning experiment.

    Defaults are the book's Fashion-MNIST setting, sized for a 2-core CPU;
    :meth:`paper` gives the reference implementation's CIFAR-10 setting.
    """

    dataset: str = "fashion_mnist"
    data_dir: str | None = None  # None: $FLSIM_DATA, else the user cache dir
    num_clients: int = 10
    clients_per_round: int | None = None  # None: every client, every round
    num_rounds: int = 10
    local_epochs: int = 1
    batch_size: int = 64
    lr: float = 0.01
    server_share: float = 0.2  # fraction of the server's round-robin deal it pre-trains on (paper: 1.0)
    samples_per_client: int | None = 300  # None: the whole deal (paper)
    eval_samples: int | None = 1000  # test (and backdoor test) images evaluated; None: all
    partition: str = "iid"
    dirichlet_alpha: float = 0.5
    attack: str = "semantic"
    semantic_set: str | None = None  # None: the dataset's default set
    target_class: int = 2
    num_malicious: int = 1  # clients 0 .. num_malicious-1 attack
    malicious_data_rate: int = 10  # poison positions 0, m*r, 2*m*r, ...
    seed: int = 0
    device: str = "cpu"
    # clients: the per-client tables (every chosen client's model of a round is held for them);
    # rounds: only the rounds table, FedAvg summing the clients as they finish (memory: two chunks of models).
    record: str = "clients"
    # The server's aggregation rule and its parameters (chapter 7; see flsim.aggregators).
    aggregator: str = "fedavg"
    trim_fraction: float = 0.1  # trimmed_mean: share of values cut at each end, per coordinate
    krum_f: int = 1  # krum, multi_krum: attackers tolerated; multi_krum averages num_chosen - krum_f clients
    clip_norm: float | None = None  # norm_clip: L2 bound on each update; None: the round's median update norm
    noise_sigma: float | None = None  # norm_clip, flame: noise std per coordinate / clip bound; None: 0, flame 0.001
    rlr_threshold: int = 4  # rlr: coordinates with |sum of the clients' update signs| below this step backwards
    filter_z: float = 3.0  # bias_filter: robust z-score of the output-bias statistic above which a client is dropped
    # How the attackers behave (chapters 7-8); the defaults are the paper's attacker.
    attack_schedule: str = "pool"  # pool: drawn like any client; every_round: always chosen; single_shot
    attack_round: int = 1  # single_shot: the one round the attackers attack (and are sure to be chosen)
    attack_scale: float = 1.0  # model replacement: submit global + attack_scale * update (1: no scaling)
    attack_norm_bound: float | None = None  # project the submitted update onto this L2 ball around the global model
    trigger_parts: int = 1  # trigger attack: DBA splits the trigger into 2 or 4 parts, one per attacker
    adaptive: str = "none"  # output_bias / output_layer: submit that part of a clean-trained model (no bias anomaly)

    def __post_init__(self) -> None:
        _check_types(self)
        _check_values(self)

    @classmethod
    def paper(cls, **overrides) -> "Config":
        """The reference notebook's run: CIFAR-10, 10 clients, 25 rounds, 2 epochs."""
        settings = dict(
            dataset="cifar10", num_clients=10, clients_per_round=None, num_rounds=25,
            local_epochs=2, batch_size=64, lr=0.01, server_share=1.0,
            samples_per_client=None, eval_samples=None, partition="iid",
            attack="semantic", semantic_set="racing_stripes", target_class=2,
            num_malicious=1, malicious_data_rate=10,
        )
        return cls(**{**settings, **overrides})

    @classmethod
    def from_strings(cls, pairs: dict[str, str], base: "Config | None" = None) -> "Config":
        """Build a config from ``key -> text`` pairs, as typed on the command line."""
        base = base or cls()
        names = {f.name for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        values = {}
        for key, text in pairs.items():
            if key not in names:
                raise ConfigError(f"unknown parameter {key!r}; allowed: {', '.join(sorted(names))}")
            values[key] = _parse(key, text, hints[key])
        return dataclasses.replace(base, **values)

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """A stable hash of the settings that change results (not where data lives).

        The semantic set is hashed by name, so None and the dataset's default set share a key.
        """
        settings = {k: v for k, v in self.to_dict().items() if k != "data_dir"}
        if self.attack == "semantic":
            from .attacks import semantic_set_name  # late import: attacks needs no config

            settings["semantic_set"] = semantic_set_name(self.dataset, self.semantic_set)
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def num_chosen(self) -> int:
        return self.clients_per_round or self.num_clients

    @property
    def attackers(self) -> int:
        """The number of attacking clients (num_malicious, or 0 without an attack)."""
        return 0 if self.attack == "none" else self.num_malicious


def _allowed_types(hint) -> tuple[type, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(a for a in typing.get_args(hint))
    return (hint,)


def _check_types(config: Config) -> None:
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        allowed = _allowed_types(hints[field.name])
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(config, field.name, float(value))
            continue
        if isinstance(value, bool) or not isinstance(value, allowed):
            names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            raise ConfigError(f"{field.name} must be {names}, got {value!r}")


def _one_of(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")


def _at_least(name: str, value, low) -> None:
    if value is not None and value < low:
        raise ConfigError(f"{name} must be >= {low}, got {value}")


def _check_values(c: Config) -> None:
    _one_of("dataset", c.dataset, DATASETS)
    _one_of("partition", c.partition, PARTITIONS)
    _one_of("attack", c.attack, ATTACKS)
    _one_of("device", c.device, DEVICES)
    _one_of("record", c.record, RECORDS)
    _one_of("aggregator", c.aggregator, AGGREGATORS)
    _one_of("attack_schedule", c.attack_schedule, ATTACK_SCHEDULES)
    _one_of("adaptive", c.adaptive, ADAPTIVE)
    _one_of("trigger_parts", c.trigger_parts, TRIGGER_PARTS)
    for name in ("num_clients", "num_rounds", "local_epochs", "batch_size",
                 "malicious_data_rate", "clients_per_round", "samples_per_client", "eval_samples",
                 "rlr_threshold", "attack_round"):
        _at_least(name, getattr(c, name), 1)
    _at_least("num_malicious", c.num_malicious, 0)
    _at_least("krum_f", c.krum_f, 0)
    _at_least("noise_sigma", c.noise_sigma, 0)
    if c.clients_per_round is not None and c.clients_per_round > c.num_clients:
        raise ConfigError(f"clients_per_round must be between 1 and num_clients={c.num_clients}, "
                          f"got {c.clients_per_round}")
    if c.num_malicious > c.num_clients:
        raise ConfigError(f"num_malicious must be between 0 and num_clients={c.num_clients}, "
                          f"got {c.num_malicious}")
    if not c.lr > 0:
        raise ConfigError(f"lr must be > 0, got {c.lr}")
    if not 0 <= c.server_share <= 1:
        raise ConfigError(f"server_share must be between 0 and 1, got {c.server_share}")
    if not c.dirichlet_alpha > 0:
        raise ConfigError(f"dirichlet_alpha must be > 0, got {c.dirichlet_alpha}")
    if not 0 <= c.target_class < 10:
        raise ConfigError(f"target_class must be between 0 and 9 (the dataset's classes), got {c.target_class}")
    _check_defence(c)
    _check_attacker(c)
    if c.attack == "semantic":
        from .attacks import SEMANTIC_SETS  # late import: attacks needs no config

        sets = SEMANTIC_SETS.get(c.dataset, {})
        if not sets:
            raise ConfigError(f"attack='semantic' needs a dataset with semantic sets: "
                              f"{', '.join(k for k, v in SEMANTIC_SETS.items() if v)}; got dataset={c.dataset!r}")
        if c.semantic_set is not None:
            _one_of("semantic_set", c.semantic_set, tuple(sets))


def _check_defence(c: Config) -> None:
    if not 0 <= c.trim_fraction < 0.5:
        raise ConfigError(f"trim_fraction must be in [0, 0.5), got {c.trim_fraction}")
    for name in ("clip_norm", "filter_z"):
        if getattr(c, name) is not None and not getattr(c, name) > 0:
            raise ConfigError(f"{name} must be > 0, got {getattr(c, name)}")
    if c.aggregator in ("krum", "multi_krum") and c.num_chosen < 2 * c.krum_f + 3:
        raise ConfigError(f"aggregator={c.aggregator!r} needs num_chosen >= 2 * krum_f + 3 = {2 * c.krum_f + 3} "
                          f"clients per round, got {c.num_chosen}; lower krum_f or choose more clients")
    if c.record == "rounds" and c.aggregator != "fedavg":
        raise ConfigError(f"record='rounds' averages each round's clients as they finish, which only aggregator="
                          f"'fedavg' can; aggregator={c.aggregator!r} needs every client's model: use record='clients'")
    if c.aggregator == "rlr" and c.rlr_threshold > c.num_chosen:
        raise ConfigError(f"rlr_threshold must be between 1 and the clients per round ({c.num_chosen}), "
                          f"got {c.rlr_threshold}")


def _check_attacker(c: Config) -> None:
    if not c.attack_scale > 0:
        raise ConfigError(f"attack_scale must be > 0, got {c.attack_scale}")
    if c.attack_norm_bound is not None and not c.attack_norm_bound > 0:
        raise ConfigError(f"attack_norm_bound must be > 0, got {c.attack_norm_bound}")
    if c.attack_schedule == "single_shot" and c.attack_round > c.num_rounds:
        raise ConfigError(f"attack_round must be between 1 and num_rounds={c.num_rounds}, got {c.attack_round}")
    if c.attack_schedule != "pool" and c.attackers > c.num_chosen:
        raise ConfigError(f"attack_schedule={c.attack_schedule!r} puts all num_malicious={c.num_malicious} "
                          f"attackers in a round of clients_per_round={c.num_chosen} clients: too few")
    if c.trigger_parts > 1 and c.attack != "trigger":
        raise ConfigError(f"trigger_parts={c.trigger_parts} (DBA) splits the trigger: it needs attack='trigger', "
                          f"got attack={c.attack!r}")


def _parse(key: str, text: str, hint):
    allowed = _allowed_types(hint)
    if type(None) in allowed and text.lower() in ("none", "null", ""):
        return None
    for kind in (int, float, str):
        if kind in allowed:
            try:
                return kind(text)
            except ValueError:
                continue
    names = " or ".join("None" if t is type(None) else ("an integer" if t is int else
                        "a number" if t is float else "text") for t in allowed)
    raise ConfigError(f"{key} expects {names}, got {text!r}")
