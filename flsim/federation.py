"""The federation a config describes, up to round 1: data, split, backdoor, model, trainer, server.

:func:`setup` builds it exactly as :func:`flsim.simulate` does before its
first round, so a notebook can train, inspect or attack round 1 by hand and
get the numbers of ``flsim.run(config)``'s round 1 (chapter 1 does).
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import data, partition
from .aggregators import Server
from .attacks import Backdoor, make_backdoor, semantic_indices, semantic_set_name
from .config import DATASET_SHAPES, Config, ConfigError, check_device, require_config
from .models import MODELS
from .pretraining import pretrain
from .train import FlatTrainer, exact_fp32, make_trainer
from .workers import intra_op_threads

Data = tuple[torch.Tensor, torch.Tensor]  # images, labels


def derived_seed(*parts: int) -> int:
    """A seed for one use of the config's seed (the split, the initialisation, a party's batches, ...)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@dataclass
class Round:
    """One round's clients: who trains (``chosen``), who attacks, on what data, in which batch order."""

    number: int
    chosen: np.ndarray
    malicious: np.ndarray
    datasets: list[Data]
    orders: list[torch.Generator]


@dataclass
class Federation:
    """Everything a simulation runs, ready for round 1 (see :func:`setup`).

    ``server_data``, ``clean_data`` (one per client) and ``poisoned_data`` (one per attacker) are
    (images, labels); ``test`` and ``backdoor_test`` what each round is evaluated on. ``initial_weights``
    is the model's initialisation, ``global_weights`` the server's pre-trained model that round 1 starts
    from, both flat (``trainer.layers`` names each tensor's slice).
    """

    config: Config
    dataset: data.Dataset
    backdoor: Backdoor | None
    server_data: Data
    clean_data: list[Data]
    poisoned_data: list[Data]
    test: Data
    backdoor_test: Data | None
    trainer: FlatTrainer
    server: Server
    initial_weights: torch.Tensor
    global_weights: torch.Tensor
    pretraining_seconds: float
    _choice: np.random.Generator = field(repr=False)
    _next_round: int = field(default=1, repr=False)

    def batch_order(self, round_: int, party: int) -> torch.Generator:
        """The generator of a party's batch order in a round; party 0 is the server, client c is party c + 1."""
        return torch.Generator().manual_seed(batch_order_seed(self.config, round_, party))

    def round(self, number: int) -> Round:
        """Round ``number``'s clients, data and batch orders. The client choice is drawn from one generator,
        so rounds are asked for in order: 1, 2, ..."""
        if number != self._next_round:
            raise ValueError(f"round {number} asked for, but the next round is {self._next_round}: rounds draw "
                             "their clients in order (call setup again to start over)")
        self._next_round += 1
        chosen = choose_clients(self.config, number, self._choice)
        attacking = attacks_in(self.config, number)
        malicious = (chosen < self.config.attackers) & attacking
        datasets = [self.poisoned_data[c] if attacks else self.clean_data[c] for c, attacks in zip(chosen, malicious)]
        return Round(number, chosen, malicious, datasets, [self.batch_order(number, c + 1) for c in chosen])

    def train_clean(self, client: int, round_: int, start: torch.Tensor) -> torch.Tensor:
        """The model ``client`` trains from ``start`` on its clean data in ``round_``: what an attacker would
        submit if it were honest (the adaptive attack's estimate of a benign client's model)."""
        return self.trainer.train(start, *self.clean_data[client], self.config.local_epochs,
                                  self.batch_order(round_, client + 1))

    def evaluate(self, weights: torch.Tensor) -> dict[str, float]:
        """Test accuracy and loss, and backdoor accuracy and loss (NaN without a backdoor), of ``weights``."""
        main = self.trainer.evaluate(weights, *self.test)
        back = self.trainer.evaluate(weights, *self.backdoor_test) if self.backdoor is not None else (np.nan, np.nan)
        return dict(main_accuracy=main[0], main_loss=main[1], backdoor_accuracy=back[0], backdoor_loss=back[1])


def batch_order_seed(config: Config, round_: int, party: int) -> int:
    """The seed of a party's batch order in a round (:meth:`Federation.batch_order`)."""
    return derived_seed(config.seed, 4, round_, party)


def attacks_in(config: Config, round_: int) -> bool:
    """Whether the attackers attack in this round (else they train honestly, on clean data)."""
    return config.attack_schedule != "single_shot" or round_ == config.attack_round


def choose_clients(config: Config, round_: int, rng: np.random.Generator) -> np.ndarray:
    """This round's clients: all, or clients_per_round drawn with ``rng``; attackers that attack on a
    schedule ("every_round", "single_shot") are sure to be chosen when they attack."""
    if config.clients_per_round is None:
        return np.arange(config.num_clients)
    if config.attack_schedule == "pool" or not attacks_in(config, round_):
        return np.sort(rng.choice(config.num_clients, config.clients_per_round, replace=False))
    benign = rng.choice(np.arange(config.attackers, config.num_clients), config.clients_per_round - config.attackers,
                        replace=False)
    return np.sort(np.concatenate([np.arange(config.attackers), benign]))


def first_round_attackers(config: Config) -> np.ndarray:
    """The clients that attack in round 1 of ``config``, drawn as :meth:`Federation.round` draws them
    (the same generator), without building the federation."""
    chosen = choose_clients(config, 1, np.random.default_rng(derived_seed(config.seed, 3)))
    return chosen[(chosen < config.attackers) & attacks_in(config, 1)]


def setup(config: Config) -> Federation:
    """The federation ``config`` describes, with the server's model pre-trained: what
    :func:`flsim.simulate` runs its rounds on, the same bits.

    >>> import flsim
    >>> federation = flsim.setup(flsim.Config(num_clients=4, samples_per_client=100, server_share=0.05))
    >>> round_1 = federation.round(1)
    >>> weights = federation.trainer.train_clients(federation.global_weights, round_1.datasets,
    ...                                            federation.config.local_epochs, round_1.orders)
    >>> weights.shape[0]
    4
    """
    config = require_config(config, "flsim.setup")
    workers = torch.get_num_threads()
    with intra_op_threads(1), exact_fp32():
        return build(config, workers)


def build(config: Config, workers: int, cohort: Federation | None = None) -> Federation:
    """:func:`setup`, on the calling thread's torch threads; the clients train on ``workers`` threads.

    ``cohort``: a federation whose config differs from ``config`` only in its attack, on the same
    honest pool (a panel's, :func:`flsim.panel`): its data split, model, trainer and pre-trained
    server model are taken as they are, the bits building them again would give, and only the
    attack's parts are built.
    """
    device = check_device(config.device)
    check_memory(config, device)
    dataset = cohort.dataset if cohort else data.load(config.dataset, config.data_dir)
    if config.attack == "semantic":
        _check_target(config, dataset)
    backdoor = make_backdoor(config.attack, dataset, config.target_class, config.semantic_set, config.trigger_parts,
                             config.semantic_indices)
    server_data, clean_data = (cohort.server_data, cohort.clean_data) if cohort else _split(config, dataset, backdoor,
                                                                                             device)
    poisoned_data = [_poisoned(config, backdoor, *clean_data[client], client) for client in range(config.attackers)]
    test = cohort.test if cohort else tuple(t[: config.eval_samples].to(device)
                                            for t in (dataset.test_x, dataset.test_y))
    backdoor_test = (tuple(t[: config.eval_samples].to(device) for t in (backdoor.eval_x, backdoor.eval_y))
                     if backdoor is not None else None)
    if cohort:
        trainer = cohort.trainer
    else:
        spec = MODELS.entry(config.model)
        model = spec.build(dataset.input_shape, dataset.num_classes, derived_seed(config.seed, 2)).to(device)
        trainer = make_trainer(model, config.lr, config.batch_size, workers=workers,  # backend: $FLSIM_BACKEND or auto
                               output_layer=spec.output_layer)
    server = Server(config, trainer.layers, torch.Generator().manual_seed(derived_seed(config.seed, 5)))
    federation = Federation(config, dataset, backdoor, server_data, clean_data, poisoned_data, test, backdoor_test,
                            trainer, server, trainer.weights.clone(), trainer.weights, 0.0,
                            np.random.default_rng(derived_seed(config.seed, 3)))
    if cohort:
        federation.initial_weights, federation.global_weights = cohort.initial_weights, cohort.global_weights
        return federation
    start = time.perf_counter()
    federation.global_weights = pretrain(trainer, federation.initial_weights, *server_data, config.local_epochs,
                                         batch_order_seed(config, 0, 0))
    federation.pretraining_seconds = time.perf_counter() - start
    return federation


def _check_target(config: Config, dataset: data.Dataset) -> None:
    """A semantic backdoor's images must not already be of the target class: the backdoor would teach the
    model what they are, and its accuracy would read as an attack's success."""
    indices = torch.as_tensor(semantic_indices(config.dataset, config.semantic_set, config.semantic_indices))
    labels = dataset.train_y[indices]
    own = int((labels == config.target_class).sum())
    if own:
        what = (f"semantic_set={semantic_set_name(config.dataset, config.semantic_set)!r}"
                if config.semantic_indices is None else "semantic_indices")
        theirs = ", ".join(f"{c} ({dataset.classes[c]})" for c in sorted(set(labels.tolist())))
        raise ConfigError(f"target_class={config.target_class} ({dataset.classes[config.target_class]}) is the true "
                          f"class of {own} of the {len(indices)} images of {what}: the backdoor would teach the "
                          f"model what they are; choose a target_class other than theirs ({theirs})")


def model_bytes(config: Config) -> int:
    """The bytes of one model of ``config`` as flsim holds it (its flat float32 weights, buffers included)."""
    shape, classes = DATASET_SHAPES[config.dataset]
    return _spec_bytes(MODELS.entry(config.model), shape, classes)


@functools.cache
def _spec_bytes(spec, shape: tuple[int, int, int], classes: int) -> int:
    model = spec.build(shape, classes)
    return 4 * sum(t.numel() for t in model.state_dict().values() if t.is_floating_point())


def memory_bytes(device: torch.device) -> int:
    """What a run may hold at most here: a GPU's memory, or the machine's memory and swap (Linux's limit
    on one allocation), else its physical memory."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        with open("/proc/meminfo") as meminfo:
            sizes = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in meminfo}
        return sizes["MemTotal"] + sizes.get("SwapTotal", 0)
    except (OSError, KeyError, ValueError, IndexError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(config: Config, device: torch.device) -> None:
    """ConfigError before any data is loaded where a round of ``config`` cannot fit in memory here:
    a round that records its clients holds every chosen client's model and update (two clients x
    parameters matrices)."""
    if config.record == "rounds":
        return  # two chunks of models, whatever the round's size
    need = 2 * config.num_chosen * model_bytes(config)
    have = memory_bytes(device)
    if need > have:
        setting = "clients_per_round" if config.clients_per_round is not None else "num_clients"
        raise ConfigError(f"a round of {config.num_chosen} clients with record={config.record!r} holds every "
                          f"client's model and update: {need / 2**30:.1f} GiB, more than the "
                          f"{have / 2**30:.1f} GiB of memory here ({device.type}); use record='rounds' (FedAvg: "
                          f"only the rounds table, two chunks of models), or fewer clients a round "
                          f"(clients_per_round, or {setting})")


def _split(config: Config, dataset: data.Dataset, backdoor: Backdoor | None, device: torch.device):
    """The server's data and each client's clean (x, y), from the pool without the backdoor's images and
    ``config.excluded_indices``."""
    pool = torch.arange(len(dataset.train_y))
    if backdoor is not None:
        pool = pool[~torch.isin(pool, backdoor.excluded)]
    if config.excluded_indices:
        pool = pool[~torch.isin(pool, torch.tensor(config.excluded_indices))]
    rng = np.random.default_rng(derived_seed(config.seed, 1))
    server, clients = partition.split(
        dataset.train_y[pool], config.num_clients, config.partition, config.dirichlet_alpha,
        config.server_share, config.samples_per_client, rng)
    parties = [tuple(t[pool[positions]].to(device) for t in (dataset.train_x, dataset.train_y))
               for positions in [server, *clients]]
    return parties[0], parties[1:]


def _poisoned(config: Config, backdoor: Backdoor, x: torch.Tensor, y: torch.Tensor, attacker: int) -> Data:
    """An attacker's data: its clean (x, y) poisoned at the paper's positions."""
    px, py = backdoor.poison(x.cpu(), y.cpu(), config.attackers, config.malicious_data_rate, attacker=attacker)
    return px.to(x.device), py.to(x.device)
