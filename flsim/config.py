"""The experiment configuration: one frozen dataclass, validated on creation.

Every field has the same name in code, on the command line (``key=value``) and
in the book's papermill parameters.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
import types
import typing
from dataclasses import dataclass

import torch

from .attacks import SEMANTIC_SETS, semantic_indices
from .registry import REGISTRIES

DATASETS = ("fashion_mnist", "mnist", "cifar10")
PARTITIONS = ("iid", "dirichlet")
ATTACKS = ("none", "semantic", "trigger")
DEVICES = ("cpu", "cuda", "auto")
RECORDS = ("clients", "clients+median", "rounds")
ATTACK_SCHEDULES = ("pool", "every_round", "single_shot")
ADAPTIVE = ("none", "output_bias", "output_layer")
TRIGGER_PARTS = (1, 2, 4)
# Other spellings users type for the datasets (compared lower-case, without "-", "_" and spaces).
DATASET_ALIASES = {"fashionmnist": "fashion_mnist", "fmnist": "fashion_mnist", "mnist": "mnist",
                   "cifar10": "cifar10", "cifar": "cifar10"}
# Training and test images per dataset: the bounds of the size fields.
DATASET_SIZES = {"fashion_mnist": (60000, 10000), "mnist": (60000, 10000), "cifar10": (50000, 10000)}
# Each dataset's images (channels x height x width) and classes: what a model is built for.
DATASET_SHAPES = {"fashion_mnist": ((1, 28, 28), 10), "mnist": ((1, 28, 28), 10), "cifar10": ((3, 32, 32), 10)}


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the parameter."""


def _field(default, doc: str):
    """A Config field with its meaning, shown by help(Config), the API reference and ``flsim run --help``."""
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Config:
    """One federated-learning experiment.

    Defaults are the book's Fashion-MNIST setting, sized for a 2-core CPU;
    :meth:`paper` gives the reference implementation's CIFAR-10 setting. Every
    field has the same name in Python, on the command line (``key=value``) and
    in the book's papermill parameters; a bad value raises :class:`ConfigError`
    naming the field and the values it allows.
    """

    dataset: str = _field("fashion_mnist", "'fashion_mnist' (offline), 'mnist' or 'cifar10' (downloaded once)")
    data_dir: str | None = _field(None, "where datasets are looked up; None: $FLSIM_DATA, else the user cache dir")
    model: str = _field("paper_cnn", "the architecture: 'paper_cnn' (the paper's), 'resnet8', 'resnet20' "
                                     "(with BatchNorm) or one added with flsim.register_model")
    num_clients: int = _field(10, "clients in the federation")
    clients_per_round: int | None = _field(None, "clients chosen at random each round; None: every client")
    num_rounds: int = _field(10, "rounds of federated learning after the server's pre-training")
    local_epochs: int = _field(1, "epochs of local SGD per client and round (and of the server's pre-training)")
    batch_size: int = _field(64, "SGD minibatch size")
    lr: float = _field(0.01, "SGD learning rate of the clients and the server's pre-training")
    server_share: float = _field(0.2, "fraction of its round-robin deal the server pre-trains on (paper: 1.0)")
    samples_per_client: int | None = _field(300, "training images per client (its first ones); None: the "
                                                 "whole round-robin deal (paper)")
    eval_samples: int | None = _field(1000, "test (and backdoor test) images evaluated each round; None: all")
    partition: str = _field("iid", "'iid' (the paper's round-robin deal) or 'dirichlet' (label skew)")
    dirichlet_alpha: float = _field(0.5, "partition='dirichlet': concentration; small values give each client "
                                         "few classes (some clients may get no data), large values tend to IID")
    attack: str = _field("semantic", "'semantic' (relabelled natural images), 'trigger' (a stamped pattern) "
                                     "or 'none'")
    semantic_set: str | None = _field(None, "attack='semantic': the named image set; None: the dataset's default")
    semantic_indices: tuple[int, ...] | None = _field(None, "attack='semantic': training-set indices of your own "
                                                            "backdoor images, instead of a named semantic_set "
                                                            "(on the command line: 1,5,9)")
    excluded_indices: tuple[int, ...] | None = _field(None, "training-set indices no party holds, besides the "
                                                            "semantic backdoor's own images (flsim.panel sets "
                                                            "the union of its backdoors' images, so that all "
                                                            "its members share one honest cohort)")
    target_class: int = _field(2, "the class the backdoor makes the model predict")
    num_malicious: int = _field(1, "attacking clients: clients 0 .. num_malicious-1")
    malicious_data_rate: int = _field(10, "r: each attacker poisons positions 0, m*r, 2*m*r, ... of its data "
                                          "(m = num_malicious)")
    seed: int = _field(0, "drives the split, client choice, initialisation, batch order and noise")
    device: str = _field("cpu", "'cpu', 'cuda' or 'auto' (a GPU if there is one); results are bit-identical "
                                "on CPU whatever the thread count, not between CPU and GPU")
    record: str = _field("clients", "'clients': the per-client tables (every chosen client's model and update "
                                    "of a round are held for them); 'clients+median': also max |w_k - median w| "
                                    "per tensor in Results.updates (chapter 4; a selection over every client's "
                                    "every coordinate each round); 'rounds': only the rounds table, FedAvg "
                                    "summing the clients as they finish (memory: two chunks of models)")
    aggregator: str = _field("fedavg", "the server's aggregation rule (chapter 8; see flsim.aggregators), or "
                                       "one added with flsim.register_aggregator")
    trim_fraction: float = _field(0.1, "aggregator='trimmed_mean': share of values cut at each end, per "
                                       "coordinate")
    krum_f: int = _field(1, "aggregator='krum' or 'multi_krum': attackers tolerated; multi_krum averages "
                            "the clients per round minus krum_f")
    clip_norm: float | None = _field(None, "aggregator='norm_clip': L2 bound on each update; None: the "
                                           "round's median update norm")
    noise_sigma: float | None = _field(None, "aggregator='norm_clip' or 'flame': noise std per coordinate, "
                                             "relative to the clip bound; None: 0 (norm_clip), 0.001 (flame)")
    rlr_threshold: int = _field(4, "aggregator='rlr': coordinates whose clients' update signs sum to less "
                                   "than this (in absolute value) step backwards")
    filter_z: float = _field(3.0, "aggregator='bias_filter': robust z-score of the output-bias statistic "
                                  "above which a client is dropped")
    attack_schedule: str = _field("pool", "'pool': attackers are drawn like any client; 'every_round': always "
                                          "chosen; 'single_shot': they attack in attack_round only")
    attack_round: int = _field(1, "attack_schedule='single_shot': the round the attackers attack (and are "
                                  "sure to be chosen)")
    attack_scale: float = _field(1.0, "model replacement: attackers submit global + attack_scale * update "
                                      "(1: no scaling)")
    attack_norm_bound: float | None = _field(None, "attackers project their update onto this L2 ball around "
                                                   "the global model; None: no bound")
    trigger_parts: int = _field(1, "attack='trigger': DBA splits the trigger into 2 or 4 parts, one per "
                                   "attacker")
    adaptive: str = _field("none", "'output_bias' or 'output_layer': attackers submit that part of a "
                                   "clean-trained model, hiding the bias anomaly; 'none'")
    neurotoxin_top: float | None = _field(None, "Neurotoxin: attackers keep their update off the coordinates "
                                                "of the top neurotoxin_top share, by magnitude, of the last "
                                                "global update (between 0 and 1); None: off")
    lp_threshold: float | None = _field(None, "the LP attack: attackers submit their clean-trained model with "
                                              "only their backdoor-critical tensors, the fewest that keep "
                                              "lp_threshold of their own backdoor accuracy (between 0 and "
                                              "1); None: off")

    def __post_init__(self) -> None:
        if isinstance(self.data_dir, os.PathLike):
            object.__setattr__(self, "data_dir", os.fspath(self.data_dir))
        for name in ("semantic_indices", "excluded_indices"):
            value = getattr(self, name)
            if isinstance(value, (list, range)) or _is_array(value):
                value = tuple(value.tolist() if _is_array(value) else value)
            if isinstance(value, tuple):  # numpy's integers in a tuple are the same indices
                value = tuple(int(i) if isinstance(i, numbers.Integral) and not isinstance(i, bool) else i
                              for i in value)
                object.__setattr__(self, name, value)
        if isinstance(self.dataset, str):
            spelled = self.dataset.lower().replace("-", "").replace("_", "").replace(" ", "")
            object.__setattr__(self, "dataset", DATASET_ALIASES.get(spelled, self.dataset))
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
        _check_names(pairs)
        hints = typing.get_type_hints(cls)
        return dataclasses.replace(base, **{key: _parse(key, text, hints[key]) for key, text in pairs.items()})

    def replace(self, **changes) -> "Config":
        """A copy with ``changes``; an unknown field name raises :class:`ConfigError`."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """A stable hash of :meth:`key_settings`: what the result cache files this config's results under
        (:func:`flsim.identity.config_key`)."""
        from .identity import config_key  # façade: flsim.identity owns the key

        return config_key(self)

    def key_settings(self) -> dict:
        """The settings that change results, as the cache key hashes them (:func:`flsim.identity.key_settings`)."""
        from .identity import key_settings  # façade

        return key_settings(self)

    def training_backend(self) -> str:
        """The training backend this config's runs use here, never "auto" (:func:`flsim.identity.training_backend`)."""
        from .identity import training_backend  # façade

        return training_backend(self)

    @property
    def num_chosen(self) -> int:
        return self.clients_per_round or self.num_clients

    @property
    def attackers(self) -> int:
        """The number of attacking clients (num_malicious, or 0 without an attack)."""
        return 0 if self.attack == "none" else self.num_malicious


def device_kind(device: str) -> str:
    """The device ``device`` means on this machine: "auto" is "cuda" where CUDA is available, else "cpu"."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def check_device(name: str) -> torch.device:
    """The torch device ``name`` ("cpu", "cuda" or "auto") means here; ConfigError if it is not here."""
    kind = device_kind(name)
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but no CUDA device is available here; use device='cpu' or 'auto'")
    return torch.device(kind)


def check_options(options) -> tuple[str, ...] | None:
    """A plug-in's declared options (the Config fields it reads), checked to be fields; None: undeclared,
    it may read any (:func:`flsim.register_aggregator`, :func:`flsim.register_attack_step`)."""
    if options is None:
        return None
    names = [field.name for field in dataclasses.fields(Config)]
    options = (options,) if isinstance(options, str) else tuple(options)
    for option in options:
        if option not in names:
            close = difflib.get_close_matches(str(option), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"options names {option!r}, which is no Config field{hint}; a plug-in's options are "
                             "the Config fields it reads")
    return options


def _check_names(values: dict) -> None:
    names = [f.name for f in dataclasses.fields(Config)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"unknown parameter {key!r}; {hint}Config's fields: {', '.join(names)}")


def _allowed_types(hint) -> tuple[type, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(typing.get_origin(a) or a for a in typing.get_args(hint))  # tuple[int, ...] -> tuple
    return (hint,)


def _is_bool(value) -> bool:
    return type(value).__name__ == "bool_"  # numpy's: no number here


def _is_array(value) -> bool:
    return type(value).__name__ in ("ndarray", "Tensor", "Series")  # numpy, torch, pandas: made a tuple


def _check_types(config: Config) -> None:
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        allowed = _allowed_types(hints[field.name])
        if not isinstance(value, bool) and not _is_bool(value):
            if int in allowed and not isinstance(value, int) and isinstance(value, numbers.Integral):
                value = int(value)  # numpy's integers, say: the same number
                object.__setattr__(config, field.name, value)
            if float in allowed and isinstance(value, numbers.Real) and type(value) is not float:
                object.__setattr__(config, field.name, float(value))  # 1 for 1.0, numpy's floats
                continue
        if isinstance(value, bool) or not isinstance(value, allowed):
            names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            raise ConfigError(f"{field.name} must be {names}, got {value!r}")


def _one_of(name: str, value, allowed, more: str = "") -> None:
    if value not in allowed:
        close = difflib.get_close_matches(str(value), list(map(str, allowed)), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{name}={value!r} is not allowed{hint}; choose one of {', '.join(map(repr, allowed))}"
                          + (f" {more}" if more else ""))


def _at_least(name: str, value, low) -> None:
    if value is not None and value < low:
        raise ConfigError(f"{name} must be >= {low}, got {value}")


def _check_finite(c: Config) -> None:
    for field in dataclasses.fields(c):
        value = getattr(c, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{field.name} must be a finite number, got {value}")


def _check_sizes(c: Config) -> None:
    """Sizes within what the dataset holds."""
    train, test = DATASET_SIZES[c.dataset]
    if c.num_clients >= train:
        raise ConfigError(f"num_clients must be below the {train} training images of {c.dataset}, got {c.num_clients}")
    deal = -(-train // (c.num_clients + 1))  # a party's round-robin deal, at most
    if c.partition == "iid" and c.samples_per_client is not None and c.samples_per_client > deal:
        raise ConfigError(f"samples_per_client={c.samples_per_client} exceeds a client's round-robin deal of "
                          f"at most {deal} of {c.dataset}'s {train} training images with num_clients="
                          f"{c.num_clients}; use samples_per_client=None for the whole deal")
    if c.eval_samples is not None and c.eval_samples > test:
        raise ConfigError(f"eval_samples={c.eval_samples} exceeds the {test} test images of {c.dataset}; "
                          "use eval_samples=None for all of them")


def _check_values(c: Config) -> None:
    _check_finite(c)
    _one_of("dataset", c.dataset, DATASETS)
    _one_of("partition", c.partition, PARTITIONS)
    _one_of("attack", c.attack, ATTACKS)
    _one_of("device", c.device, DEVICES)
    _one_of("record", c.record, RECORDS)
    _check_registered(c)
    _one_of("attack_schedule", c.attack_schedule, ATTACK_SCHEDULES)
    _one_of("adaptive", c.adaptive, ADAPTIVE)
    _one_of("trigger_parts", c.trigger_parts, TRIGGER_PARTS)
    for name in ("num_clients", "num_rounds", "local_epochs", "batch_size",
                 "malicious_data_rate", "clients_per_round", "samples_per_client", "eval_samples",
                 "rlr_threshold", "attack_round"):
        _at_least(name, getattr(c, name), 1)
    _at_least("num_malicious", c.num_malicious, 0)
    _at_least("seed", c.seed, 0)
    _check_sizes(c)
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
    _check_semantic(c)
    _check_pool(c)


def _check_pool(c: Config) -> None:
    """The clients' deals after the images no party holds (the backdoor's, ``excluded_indices``) are taken
    out: each client must still get its samples_per_client (partition='iid')."""
    if c.partition != "iid" or c.samples_per_client is None:
        return
    kept_out = set(c.excluded_indices or ())
    if c.attack == "semantic":
        kept_out |= set(semantic_indices(c.dataset, c.semantic_set, c.semantic_indices))
    pool = DATASET_SIZES[c.dataset][0] - len(kept_out)
    smallest = pool // (c.num_clients + 1)  # the last party's round-robin deal
    if c.samples_per_client > smallest:
        taken = [f"excluded_indices ({len(c.excluded_indices)} images)"] if c.excluded_indices else []
        taken += ["the backdoor's own images"] if c.attack == "semantic" else []
        why = f"{' and '.join(taken)} leave " if taken else ""
        raise ConfigError(f"samples_per_client={c.samples_per_client} is more than the smallest client's deal: "
                          f"{why}{pool} of {c.dataset}'s training images for the server and num_clients="
                          f"{c.num_clients} clients, {smallest} each; lower samples_per_client (or num_clients)"
                          + (", or exclude fewer images" if c.excluded_indices else ""))


def _check_registered(c: Config) -> None:
    """The model and the rule: built in (flsim.models, flsim.aggregators), or registered in this process.
    Their registries are the fields' namesakes."""
    for field in ("model", "aggregator"):
        registry = REGISTRIES[field]
        _one_of(field, getattr(c, field), tuple(registry), f"or add yours with {registry.how}")


def _check_semantic(c: Config) -> None:
    if c.semantic_indices is not None:
        _check_indices(c)
    if c.excluded_indices is not None:
        _check_training_indices("excluded_indices", c.excluded_indices, c.dataset)
    if c.attack != "semantic":
        return
    sets = SEMANTIC_SETS.get(c.dataset, {})
    if c.semantic_indices is None and not sets:
        raise ConfigError(f"attack='semantic' needs semantic_indices (your own images) or a dataset with "
                          f"semantic sets ({', '.join(f'{k}: {sorted(v)}' for k, v in SEMANTIC_SETS.items() if v)}); "
                          f"dataset={c.dataset!r} has none: give semantic_indices, or use attack='trigger'")
    if c.semantic_set is not None:
        _one_of("semantic_set", c.semantic_set, tuple(sets))


def _check_indices(c: Config) -> None:
    indices = c.semantic_indices
    if c.attack != "semantic":
        raise ConfigError(f"semantic_indices are the images of a semantic backdoor: they need attack='semantic', "
                          f"got attack={c.attack!r}")
    if c.semantic_set is not None:
        raise ConfigError(f"give semantic_set or semantic_indices, not both (semantic_set={c.semantic_set!r})")
    if not indices:
        raise ConfigError("semantic_indices must name at least one training image, got ()")
    _check_training_indices("semantic_indices", indices, c.dataset)


def _check_training_indices(name: str, indices: tuple, dataset: str) -> None:
    train = DATASET_SIZES[dataset][0]
    wrong = [i for i in indices if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < train]
    if wrong:
        raise ConfigError(f"{name} must be integers from 0 to {train - 1} (the training images of "
                          f"{dataset}), got {wrong[0]!r}")
    if len(set(indices)) != len(indices):
        raise ConfigError(f"{name} must not repeat an index")


def _check_defence(c: Config) -> None:
    if not 0 <= c.trim_fraction < 0.5:
        raise ConfigError(f"trim_fraction must be in [0, 0.5), got {c.trim_fraction}")
    for name in ("clip_norm", "filter_z"):
        if getattr(c, name) is not None and not getattr(c, name) > 0:
            raise ConfigError(f"{name} must be > 0, got {getattr(c, name)}")
    if c.record == "rounds" and c.aggregator != "fedavg":
        raise ConfigError(f"record='rounds' averages each round's clients as they finish, which only aggregator="
                          f"'fedavg' can; aggregator={c.aggregator!r} needs every client's model: use record='clients'")
    check = REGISTRIES["aggregator"].entry(c.aggregator).check
    if check is not None:  # what the chosen rule needs of the config
        check(c)


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
    for name in ("neurotoxin_top", "lp_threshold"):
        value = getattr(c, name)
        if value is not None and not 0 < value <= 1:
            raise ConfigError(f"{name} must be between 0 (excluded) and 1, or None (off); got {value}")
    if c.trigger_parts > 1 and c.attack != "trigger":
        raise ConfigError(f"trigger_parts={c.trigger_parts} (DBA) splits the trigger: it needs attack='trigger', "
                          f"got attack={c.attack!r}")
    if c.trigger_parts > c.num_malicious and c.attack == "trigger":
        raise ConfigError(f"trigger_parts={c.trigger_parts} (DBA) gives each attacker one part of the trigger: it "
                          f"needs num_malicious >= {c.trigger_parts}, got num_malicious={c.num_malicious} (the "
                          f"other parts would never be trained); use trigger_parts=1"
                          + (" or 2" if c.num_malicious >= 2 else "") + " or more attackers")


def _parse(key: str, text: str, hint):
    """The value of ``key=text``, as Python reads it: an integer as ``int()`` does (``1_000`` too), None as
    ``none``; an empty value is refused (``key=`` is no value, not None: write ``none``)."""
    allowed = _allowed_types(hint)
    if not text:
        none = ", or none" if type(None) in allowed else ""
        raise ConfigError(f"{key}= gives no value; write one, e.g. {key}={_example(hint)}{none}")
    if type(None) in allowed and text.lower() in ("none", "null"):
        return None
    if tuple in allowed:  # integers separated by commas; () or [] is the empty tuple, as in Python
        parts = [part.strip() for part in text.strip("()[] ").split(",")]
        if parts == [""]:
            return ()
        if parts[-1] == "":  # 1,5, as Python's (1, 5,)
            parts.pop()
        try:
            return tuple(int(part) for part in parts)
        except ValueError:
            raise ConfigError(f"{key} expects integers separated by commas, e.g. 1,5,9; got {text!r}") from None
    for kind in (int, float, str):
        if kind in allowed:
            try:
                return kind(text)
            except ValueError:
                continue
    names = " or ".join("None" if t is type(None) else ("an integer" if t is int else
                        "a number" if t is float else "text") for t in allowed)
    raise ConfigError(f"{key} expects {names}, got {text!r}")


def _example(hint) -> str:
    allowed = _allowed_types(hint)
    return "1,5,9" if tuple in allowed else "10" if int in allowed else "0.01" if float in allowed else "text"


def require_config(value, where: str) -> "Config":
    """``value`` if it is a :class:`Config`, else ConfigError naming what ``where`` takes (a dict or None
    passed to :func:`flsim.run`, say)."""
    if isinstance(value, Config):
        return value
    hint = " (make one: flsim.Config(**settings))" if isinstance(value, dict) else ""
    raise ConfigError(f"{where} takes a flsim.Config, got {type(value).__name__} {_short(value)}{hint}")


def require_configs(values, where: str) -> list["Config"]:
    """``values`` as a list of :class:`Config` (any iterable of them), else ConfigError naming the first
    item that is not one; a single Config is named too (``[config]`` is meant)."""
    if isinstance(values, Config):
        raise ConfigError(f"{where} takes a list of flsim.Config, got one Config: pass [config]")
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"{where} takes a list of flsim.Config, got {type(values).__name__} {_short(values)}")
    values = list(values)
    for position, value in enumerate(values):
        if not isinstance(value, Config):
            raise ConfigError(f"{where} takes a list of flsim.Config; item {position} is {type(value).__name__} "
                              f"{_short(value)}")
    return values


def require_int(name: str, value, low: int | None = None, high: int | None = None, more: str = "") -> int:
    """``value`` as an int (numpy's integers too; never a bool or a float), else ConfigError naming ``name``,
    the value and the range allowed (``low`` to ``high``, either open)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer{_range(low, high)}, got {_short(value)}{more}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name}={value} is not allowed; choose an integer{_range(low, high)}{more}")
    return value


def require_number(name: str, value, low: float, high: float, low_open: bool = False) -> float:
    """``value`` as a float between ``low`` and ``high`` (``low`` excluded with ``low_open``), else
    ConfigError naming ``name``, the value and the range."""
    allowed = f"between {low} ({'excluded' if low_open else 'included'}) and {high}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number {allowed}, got {_short(value)}")
    value = float(value)
    if not (low < value if low_open else low <= value) or not value <= high:
        raise ConfigError(f"{name} must be {allowed}, got {value}")
    return value


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    return f" >= {low}" if low is not None else f" <= {high}" if high is not None else ""


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_docs(cls) -> str:
    """The fields' meanings, as the docstring's Parameters section (help(), the API reference)."""
    lines = ["", "", "    Parameters", "    ----------"]  # after the summary's last line, one blank line
    for field in dataclasses.fields(cls):
        lines += [f"    {field.name}", f"        {field.metadata['doc']} (default: {field.default!r})"]
    return "\n".join(lines)


Config.__doc__ = Config.__doc__.rstrip() + _field_docs(Config)
