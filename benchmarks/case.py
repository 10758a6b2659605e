"""One contestant on one case, in a fresh process: ``python -m benchmarks.case CONTESTANT CLIENTS SAMPLES ROUNDS OUT``.

Contestants:

- ``flsim``: flsim's engine, as :func:`flsim.simulate` runs a round with
  ``record="rounds"`` (:func:`flsim.train.make_trainer` picks the backend:
  sequential on CPU): FedAvg sums the clients chunk by chunk as they finish.
- ``flsim-clients``: the same, holding every client's model of the round and
  then averaging them, as :func:`flsim.simulate` does with ``record="clients"``
  (the default, for the per-client tables).
- ``flsim-analysed``: the round :func:`flsim.simulate` runs by default: ``flsim-clients``
  plus the round's analysis (:func:`flsim.experiment.analyse_round`: the statistics of
  every tensor, the output-bias deviations and every detector, as tables), each step
  timed (``step_seconds``), and apart from the round's time the coordinate-wise median
  that ``record="clients+median"`` adds.
- ``flsim-batched``: flsim's batched backend (vmap over the clients), forced.
- ``plain``: the loop users commonly write: per client a deep copy of the
  global model, a DataLoader and an optimizer; the state dicts are averaged.
- ``flsim-single`` / ``plain-single``: the case's CLIENTS x SAMPLES samples
  held by as few clients as train at once (flsim: one per thread; plain: one),
  trained with batches of SAMPLES (at most 64): the same training steps as the
  case without most of its clients, for the per-client overhead.

Writes a JSON record (round seconds, accuracy, peak memory) to OUT and the
final global weights next to it (OUT with suffix .pt).
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import torch

import numpy as np

from flsim.aggregators import fedavg, fedavg_streamed
from flsim.experiment import analyse_round
from flsim.federation import Round
from flsim.flat import round_matrix
from flsim.metrics import coordinate_median
from flsim.train import make_trainer

from . import common


def flsim_rounds(clients, rounds: int, backend: str, batch: int = common.BATCH, hold_round: bool = False,
                 analyse: bool = False):
    trainer = make_trainer(common.initial_model(), common.LR, batch, backend=backend)
    weights = trainer.weights.clone()
    warm_up = [tuple(t[:batch] for t in client) for client in clients[:torch.get_num_threads()]]
    trainer.train_clients(weights, warm_up, 1, [torch.Generator() for _ in warm_up])  # starts the threads; discarded
    baseline = common.reset_peak_rss()
    round_weights = round_matrix(len(clients), weights) if hold_round else None  # allocated once, as in simulate
    round_updates = round_matrix(len(clients), weights) if analyse else None
    seconds, steps = [], []  # steps: per round, the training's and each analysis step's seconds
    for round_ in range(1, rounds + 1):
        start = time.perf_counter()
        generators = [common.flsim_generator(round_, k) for k in range(len(clients))]
        if hold_round:
            trained = trainer.train_clients(weights, clients, common.EPOCHS, generators, out=round_weights)
            step = {"training": time.perf_counter() - start}
            if analyse:
                honest = np.zeros(len(clients), dtype=bool)
                analyse_round(Round(round_, np.arange(len(clients)), honest, clients, generators), trained, weights,
                              trainer, round_updates, seconds=step)
            aggregated = time.perf_counter()
            weights = fedavg(trained)
            step["fedavg"] = time.perf_counter() - aggregated
        else:
            chunks = trainer.stream_clients(weights, clients, common.EPOCHS, generators)
            weights = fedavg_streamed(chunk for _, chunk in chunks)
        seconds.append(time.perf_counter() - start)
        if analyse:  # what record="clients+median" adds, outside the round's time
            median_start = time.perf_counter()
            coordinate_median(trained, trainer.map)
            step["median"] = time.perf_counter() - median_start
        if hold_round:
            steps.append(step)
    trainer.load(weights)
    return trainer.model, seconds, steps, baseline


def plain_rounds(clients, rounds: int, batch: int = common.BATCH):
    global_model = common.initial_model()
    common.plain_local_training(copy.deepcopy(global_model), *[t[:batch] for t in clients[0]],
                                torch.Generator(), batch)  # warm-up, discarded
    baseline = common.reset_peak_rss()
    seconds = []
    for round_ in range(1, rounds + 1):
        start = time.perf_counter()
        states = []
        for k, (x, y) in enumerate(clients):
            local = copy.deepcopy(global_model)
            common.plain_local_training(local, x, y, common.batch_generator(round_, k), batch)
            states.append(local.state_dict())
        global_model.load_state_dict({name: torch.stack([s[name] for s in states]).mean(0) for name in states[0]})
        seconds.append(time.perf_counter() - start)
    return global_model, seconds, baseline


def main(contestant: str, num_clients: int, samples: int, rounds: int, out: Path) -> None:
    clients = common.client_data(num_clients, samples)
    if contestant.endswith("-single"):  # the case's steps, without most of the clients
        together = torch.get_num_threads() if contestant.startswith("flsim") else 1
        clients = [tuple(torch.cat(parts) for parts in zip(*clients[k::together])) for k in range(together)]
        batch = min(samples, common.BATCH)
    else:
        batch = common.BATCH
    test_x, test_y = common.test_data(5000)
    if contestant.startswith("flsim"):
        backend = "batched" if contestant == "flsim-batched" else "auto"
        model, seconds, steps, baseline = flsim_rounds(clients, rounds, backend, batch,
                                                hold_round=contestant in ("flsim-clients", "flsim-analysed"),
                                                analyse=contestant == "flsim-analysed")
    elif contestant.startswith("plain"):
        model, seconds, baseline = plain_rounds(clients, rounds, batch)
        steps = []
    else:
        raise SystemExit(f"unknown contestant {contestant!r}")
    peak = common.peak_rss_bytes()
    torch.save(common.flat(model), out.with_suffix(".pt"))
    record = dict(contestant=contestant, clients=num_clients, trained_clients=len(clients), samples=samples,
                  rounds=rounds, round_seconds=seconds, step_seconds=steps, accuracy=common.accuracy(model, test_x, test_y),
                  peak_extra_bytes=peak - baseline, data_bytes=sum(x.nbytes + y.nbytes for x, y in clients),
                  threads=torch.get_num_threads())
    out.write_text(json.dumps(record))


if __name__ == "__main__":
    name, k, n, r, path = sys.argv[1:6]
    main(name, int(k), int(n), int(r), Path(path))
