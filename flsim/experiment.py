"""One federated-learning experiment, from a Config to Results (the data flow of DESIGN.md)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import data, partition
from .aggregators import fedavg
from .attacks import make_backdoor
from .config import Config
from .metrics import STATISTICS, output_bias_deviation, update_statistics
from .models import PaperCNN
from .results import Results, cache_path, load_cached
from .train import FlatTrainer


def run(config: Config, cache: bool = True, progress: bool = False) -> Results:
    """Run ``config`` (or fetch it from the result cache) and return its Results."""
    if cache and (hit := load_cached(config)) is not None:
        return hit
    results = simulate(config, progress=progress)
    if cache:
        results.save(cache_path(config))
    return results


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA device is available; use device='cpu' or 'auto'")
    return torch.device(name)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _client_data(config: Config, dataset: data.Dataset, backdoor, device: torch.device):
    """The server's data and each client's (x, y), the first ``attackers`` clients poisoned."""
    pool = torch.arange(len(dataset.train_y))
    if backdoor is not None:
        pool = pool[~torch.isin(pool, backdoor.excluded)]
    rng = np.random.default_rng(_seed(config.seed, 1))
    server, clients = partition.split(
        dataset.train_y[pool], config.num_clients, config.partition, config.dirichlet_alpha,
        config.server_share, config.samples_per_client, rng)
    parties = []
    for client, positions in enumerate([server, *clients], start=-1):
        x, y = dataset.train_x[pool[positions]], dataset.train_y[pool[positions]]
        if 0 <= client < config.attackers:
            x, y = backdoor.poison(x, y, config.attackers, config.malicious_data_rate)
        parties.append((x.to(device), y.to(device)))
    return parties[0], parties[1:]


def simulate(config: Config, progress: bool = False) -> Results:
    """Run the experiment: server pre-training, then ``num_rounds`` of FedAvg.

    One seed drives the split, client choice, initialisation and batch order.
    """
    device = _device(config.device)
    dataset = data.load(config.dataset, config.data_dir)
    backdoor = make_backdoor(config.attack, dataset, config.target_class, config.semantic_set)
    server_data, client_data = _client_data(config, dataset, backdoor, device)
    test_x, test_y = (t[: config.eval_samples].to(device) for t in (dataset.test_x, dataset.test_y))
    if backdoor is not None:
        bd_x, bd_y = (t[: config.eval_samples].to(device) for t in (backdoor.eval_x, backdoor.eval_y))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed(config.seed, 2))
        model = PaperCNN(dataset.input_shape, dataset.num_classes).to(device)
    trainer = FlatTrainer(model, config.lr, config.batch_size)
    layer_names = list(trainer.layers)
    choice_rng = np.random.default_rng(_seed(config.seed, 3))

    def batch_order(round_: int, party: int) -> torch.Generator:  # party 0 is the server
        return torch.Generator().manual_seed(_seed(config.seed, 4, round_, party))

    def evaluate(weights: torch.Tensor, round_: int, start: float) -> dict:
        main = trainer.evaluate(weights, test_x, test_y)
        back = trainer.evaluate(weights, bd_x, bd_y) if backdoor is not None else (np.nan, np.nan)
        return dict(round=round_, main_accuracy=main[0], main_loss=main[1], backdoor_accuracy=back[0],
                    backdoor_loss=back[1], seconds=time.perf_counter() - start)

    start = time.perf_counter()
    global_weights = trainer.train(trainer.weights.clone(), *server_data, config.local_epochs, batch_order(0, 0))
    rounds = [evaluate(global_weights, 0, start)]
    updates, biases = [], []
    for round_ in tqdm(range(1, config.num_rounds + 1), desc="rounds", disable=not progress):
        start = time.perf_counter()
        if config.clients_per_round is None:
            chosen = np.arange(config.num_clients)
        else:
            chosen = np.sort(choice_rng.choice(config.num_clients, config.clients_per_round, replace=False))
        weights = torch.stack([
            trainer.train(global_weights, *client_data[c], config.local_epochs, batch_order(round_, c + 1))
            for c in chosen])
        stats = update_statistics(weights, global_weights, trainer.layers)
        bias = output_bias_deviation(weights, trainer.layers["fc2.bias"])
        global_weights = fedavg(weights)
        rounds.append(evaluate(global_weights, round_, start))
        updates.append(_update_rows(round_, chosen, config.attackers, layer_names, stats))
        biases.append(_bias_rows(round_, chosen, config.attackers, bias))
    return Results(config, pd.DataFrame(rounds), pd.concat(updates, ignore_index=True),
                   pd.concat(biases, ignore_index=True))


def _update_rows(round_: int, chosen: np.ndarray, attackers: int, layers: list[str], stats: dict) -> pd.DataFrame:
    k, n = len(chosen), len(layers)
    return pd.DataFrame({
        "round": round_,
        "client": np.repeat(chosen, n),
        "malicious": np.repeat(chosen < attackers, n),
        "layer": np.tile(layers, k),
        **{name: stats[name].cpu().numpy().reshape(-1) for name in STATISTICS},
    })


def _bias_rows(round_: int, chosen: np.ndarray, attackers: int, bias: torch.Tensor) -> pd.DataFrame:
    k, c = bias.shape
    return pd.DataFrame({
        "round": round_,
        "client": np.repeat(chosen, c),
        "malicious": np.repeat(chosen < attackers, c),
        "class": np.tile(np.arange(c), k),
        "deviation": bias.cpu().numpy().reshape(-1),
    })

