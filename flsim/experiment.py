"""One federated-learning experiment, from a Config to Results (the data flow of DESIGN.md)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm  # plain text bar: tqdm.auto warns in kernels without ipywidgets

from . import data, detectors, partition
from .aggregators import Server, fedavg_streamed
from .attacks import make_backdoor
from .cache import load_cached, store
from .config import Config, ConfigError, device_kind
from .metrics import STATISTICS, output_bias_deviation, update_statistics
from .models import PaperCNN
from .results import Results
from .train import intra_op_threads, make_trainer, round_matrix


def run(config: Config, cache: bool = True, progress: bool = False) -> Results:
    """Run ``config`` (or fetch it from the result cache) and return its Results."""
    if cache and (hit := load_cached(config)) is not None:
        return hit
    results = simulate(config, progress=progress)
    if cache:
        store(results)  # an unusable cache warns; the results are returned all the same
    return results


def check_device(name: str) -> torch.device:
    """The torch device ``name`` ("cpu", "cuda" or "auto") means here; ConfigError if it is not here."""
    kind = device_kind(name)
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' but no CUDA device is available here; use device='cpu' or 'auto'")
    return torch.device(kind)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _client_data(config: Config, dataset: data.Dataset, backdoor, device: torch.device):
    """The server's data, each client's clean (x, y), and the poisoned (x, y) of the first ``attackers``."""
    pool = torch.arange(len(dataset.train_y))
    if backdoor is not None:
        pool = pool[~torch.isin(pool, backdoor.excluded)]
    rng = np.random.default_rng(_seed(config.seed, 1))
    server, clients = partition.split(
        dataset.train_y[pool], config.num_clients, config.partition, config.dirichlet_alpha,
        config.server_share, config.samples_per_client, rng)
    parties, poisoned = [], []
    for client, positions in enumerate([server, *clients], start=-1):
        x, y = dataset.train_x[pool[positions]], dataset.train_y[pool[positions]]
        if 0 <= client < config.attackers:
            px, py = backdoor.poison(x, y, config.attackers, config.malicious_data_rate, attacker=client)
            poisoned.append((px.to(device), py.to(device)))
        parties.append((x.to(device), y.to(device)))
    return parties[0], parties[1:], poisoned


def _attacks_in(config: Config, round_: int) -> bool:
    """Whether the attackers attack in this round (else they train honestly, on clean data)."""
    return config.attack_schedule != "single_shot" or round_ == config.attack_round


def _choose(config: Config, round_: int, rng: np.random.Generator) -> np.ndarray:
    """This round's clients: all, or clients_per_round drawn at random; attackers that attack on a
    schedule ("every_round", "single_shot") are sure to be chosen when they attack."""
    if config.clients_per_round is None:
        return np.arange(config.num_clients)
    if config.attack_schedule == "pool" or not _attacks_in(config, round_):
        return np.sort(rng.choice(config.num_clients, config.clients_per_round, replace=False))
    benign = rng.choice(np.arange(config.attackers, config.num_clients), config.clients_per_round - config.attackers,
                        replace=False)
    return np.sort(np.concatenate([np.arange(config.attackers), benign]))


ADAPTIVE_LAYERS = {"none": (), "output_bias": ("fc2.bias",), "output_layer": ("fc2.weight", "fc2.bias")}


def _attack_submissions(config: Config, weights: torch.Tensor, global_weights: torch.Tensor, chosen: np.ndarray,
                        malicious: np.ndarray, layers: dict[str, slice], honest) -> torch.Tensor:
    """What the attacking rows of ``weights`` submit, in this order (chapters 8-9):

    1. model replacement: global + attack_scale * update;
    2. adaptive: the layers of ADAPTIVE_LAYERS[config.adaptive] replaced by those of
       ``honest(client)``, the model the attacker trains on its own clean data: its
       estimate of a benign client's, assuming IID data (it costs a second local training);
    3. the update projected onto the L2 ball of radius attack_norm_bound.

    Rows and attackers with the default settings are left bit-for-bit as trained.
    """
    for row in np.flatnonzero(malicious):
        if config.attack_scale != 1:
            weights[row] = global_weights + config.attack_scale * (weights[row] - global_weights)
        if ADAPTIVE_LAYERS[config.adaptive]:
            clean = honest(chosen[row])
            for name in ADAPTIVE_LAYERS[config.adaptive]:
                weights[row, layers[name]] = clean[layers[name]]
        if config.attack_norm_bound is not None:
            norm = float((weights[row] - global_weights).norm())
            if norm > config.attack_norm_bound:
                weights[row] = global_weights + (weights[row] - global_weights) * (config.attack_norm_bound / norm)
    return weights


def simulate(config: Config, progress: bool = False) -> Results:
    """Run the experiment: server pre-training, then ``num_rounds`` of federated learning
    aggregated by ``config.aggregator`` (FedAvg by default), scored by every detector.

    With ``config.record == "rounds"`` a round's clients are averaged chunk by
    chunk as they finish and only the rounds table is filled: a round of any
    size then holds two chunks of models (see ``Config.record``).

    One seed drives the split, client choice, initialisation, batch order and noise.
    On CPU every number in the tables is computed on one thread per client (the
    clients share torch's threads) and on one thread for the rest, so a config
    gives the same bits whatever the thread count: in a notebook, in a sweep's
    worker process or on a Dask worker.
    """
    workers = torch.get_num_threads()
    with intra_op_threads(1):
        return _simulate(config, progress, workers)


def _simulate(config: Config, progress: bool, workers: int) -> Results:
    device = check_device(config.device)
    dataset = data.load(config.dataset, config.data_dir)
    backdoor = make_backdoor(config.attack, dataset, config.target_class, config.semantic_set, config.trigger_parts)
    server_data, clean_data, poisoned_data = _client_data(config, dataset, backdoor, device)
    client_data = list(clean_data)  # what each client trains on this round: attackers swap in their poisoned data
    test_x, test_y = (t[: config.eval_samples].to(device) for t in (dataset.test_x, dataset.test_y))
    if backdoor is not None:
        bd_x, bd_y = (t[: config.eval_samples].to(device) for t in (backdoor.eval_x, backdoor.eval_y))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed(config.seed, 2))
        model = PaperCNN(dataset.input_shape, dataset.num_classes).to(device)
    trainer = make_trainer(model, config.lr, config.batch_size, workers=workers)  # backend: $FLSIM_BACKEND or auto
    layer_names = list(trainer.layers)
    choice_rng = np.random.default_rng(_seed(config.seed, 3))
    server = Server(config, trainer.layers, torch.Generator().manual_seed(_seed(config.seed, 5)))

    def batch_order(round_: int, party: int) -> torch.Generator:  # party 0 is the server
        return torch.Generator().manual_seed(_seed(config.seed, 4, round_, party))

    def train_clean(client: int, round_: int) -> torch.Tensor:  # what an attacker would submit if it were honest
        return trainer.train(global_weights, *clean_data[client], config.local_epochs, batch_order(round_, client + 1))

    def evaluate(weights: torch.Tensor, round_: int, start: float) -> dict:
        main = trainer.evaluate(weights, test_x, test_y)
        back = trainer.evaluate(weights, bd_x, bd_y) if backdoor is not None else (np.nan, np.nan)
        return dict(round=round_, main_accuracy=main[0], main_loss=main[1], backdoor_accuracy=back[0],
                    backdoor_loss=back[1], seconds=time.perf_counter() - start)

    start = time.perf_counter()
    global_weights = trainer.train(trainer.weights.clone(), *server_data, config.local_epochs, batch_order(0, 0))
    rounds = [evaluate(global_weights, 0, start)]
    updates, biases, detection, defence = [], [], [], []
    holds_round = config.record == "clients"  # else FedAvg sums the clients as they finish (chunk by chunk)
    round_weights = round_matrix(config.num_chosen, global_weights) if holds_round else None  # reused: see its doc
    for round_ in tqdm(range(1, config.num_rounds + 1), desc="rounds", disable=not progress):
        start = time.perf_counter()
        chosen = _choose(config, round_, choice_rng)
        attacking = _attacks_in(config, round_)
        malicious = (chosen < config.attackers) & attacking
        client_data[:config.attackers] = poisoned_data if attacking else clean_data[:config.attackers]
        datasets = [client_data[c] for c in chosen]
        orders = [batch_order(round_, c + 1) for c in chosen]

        def submitted(weights: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:  # rows: of this round
            return _attack_submissions(config, weights, global_weights, chosen[rows], malicious[rows], trainer.layers,
                                       honest=lambda client: train_clean(client, round_))

        if not holds_round:
            chunks = trainer.stream_clients(global_weights, datasets, config.local_epochs, orders)
            global_weights = fedavg_streamed(submitted(weights, rows) for rows, weights in chunks)
            rounds.append(evaluate(global_weights, round_, start))
            continue
        weights = submitted(trainer.train_clients(global_weights, datasets, config.local_epochs, orders,
                                                  out=round_weights))
        stats = update_statistics(weights, global_weights, trainer.layers)
        bias = output_bias_deviation(weights, trainer.layers["fc2.bias"])
        scores = detectors.score_all(weights, global_weights, trainer.layers)
        aggregation = server.aggregate(weights, global_weights, chosen)
        global_weights = aggregation.weights.clone()  # may be a row of round_weights (Krum), overwritten next round
        rounds.append(evaluate(global_weights, round_, start))
        updates.append(_update_rows(round_, chosen, malicious, layer_names, stats))
        biases.append(_bias_rows(round_, chosen, malicious, bias))
        detection.append(_detection_rows(round_, chosen, malicious, scores))
        defence.append(_defence_rows(round_, chosen, malicious, aggregation.accepted))
    return Results(config, pd.DataFrame(rounds), *(pd.concat(t, ignore_index=True) if t else pd.DataFrame()
                                                   for t in (updates, biases, detection, defence)))


def _update_rows(round_: int, chosen: np.ndarray, malicious: np.ndarray, layers: list[str], stats: dict) -> pd.DataFrame:
    k, n = len(chosen), len(layers)
    return pd.DataFrame({
        "round": round_,
        "client": np.repeat(chosen, n),
        "malicious": np.repeat(malicious, n),
        "layer": np.tile(layers, k),
        **{name: stats[name].cpu().numpy().reshape(-1) for name in STATISTICS},
    })


def _bias_rows(round_: int, chosen: np.ndarray, malicious: np.ndarray, bias: torch.Tensor) -> pd.DataFrame:
    k, c = bias.shape
    return pd.DataFrame({
        "round": round_,
        "client": np.repeat(chosen, c),
        "malicious": np.repeat(malicious, c),
        "class": np.tile(np.arange(c), k),
        "deviation": bias.cpu().numpy().reshape(-1),
    })


def _detection_rows(round_: int, chosen: np.ndarray, malicious: np.ndarray, scores: dict) -> pd.DataFrame:
    n = len(scores)
    return pd.DataFrame({
        "round": round_,
        "client": np.tile(chosen, n),
        "malicious": np.tile(malicious, n),
        "detector": np.repeat(list(scores), len(chosen)),
        "score": torch.cat(list(scores.values())).cpu().numpy(),
    })


def _defence_rows(round_: int, chosen: np.ndarray, malicious: np.ndarray, accepted: torch.Tensor | None) -> pd.DataFrame:
    flags = [pd.NA] * len(chosen) if accepted is None else accepted.cpu().tolist()
    return pd.DataFrame({"round": round_, "client": chosen, "malicious": malicious,
                         "accepted": pd.array(flags, dtype="boolean")})

