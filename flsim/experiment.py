"""One federated-learning experiment, from a Config to Results (the data flow of DESIGN.md)."""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm  # plain text bar: tqdm.auto warns in kernels without ipywidgets

from . import detectors
from .aggregators import Aggregation, fedavg_streamed
from .attacks.submission import Submission, shape_submissions
from .cache import load_cached, store
from .config import Config, ConfigError, require_config
from .federation import Federation, Round, build
from .flat import round_matrix
from .layout import Layers
from .metrics import ROW_CHUNK, chunks, coordinate_median, output_bias_deviation, update_statistics
from .robust import gram_matrix
from .results import Results
from .train import FlatTrainer, exact_fp32
from .workers import intra_op_threads


def run(config: Config, cache: bool = True, progress: bool = False) -> Results:
    """Run ``config`` (or fetch it from the result cache) and return its Results."""
    config = require_config(config, "flsim.run")
    if cache and (hit := load_cached(config)) is not None:
        return hit
    results = simulate(config, progress=progress)
    if cache:
        store(results)  # an unusable cache warns; the results are returned all the same
    return results


def simulate(config: Config, progress: bool = False) -> Results:
    """Run the experiment: server pre-training, then ``num_rounds`` of federated learning
    aggregated by ``config.aggregator`` (FedAvg by default), scored by every detector.

    With ``config.record == "rounds"`` a round's clients are averaged chunk by
    chunk as they finish and only the rounds table is filled: a round of any
    size then holds two chunks of models (see ``Config.record``).

    One seed drives the split, client choice, initialisation, batch order and noise.
    On CPU each client trains on one thread (the clients share torch's
    threads), the round's analysis runs in jobs of a fixed size on those
    threads (:func:`flsim.experiment.analyse_round`), and the rest on one thread, so a config
    gives the same bits whatever the thread count: in a notebook, in a sweep's
    worker process or on a Dask worker.
    """
    config = require_config(config, "flsim.simulate")
    workers = torch.get_num_threads()
    with intra_op_threads(1), exact_fp32():
        return _simulate(config, progress, workers)


def _simulate(config: Config, progress: bool, workers: int) -> Results:
    return simulate_rounds(build(config, workers), progress)


@dataclass
class TrainedRound:
    """A round whose clients were trained elsewhere (:func:`flsim.panel`): its clients and their weights
    as trained, before any attacker rewrites its row, and its share of the training's seconds."""

    round: Round
    weights: torch.Tensor
    seconds: float


def simulate_rounds(federation: Federation, progress: bool = False, first: TrainedRound | None = None) -> Results:
    """:func:`simulate`'s rounds on a federation :func:`flsim.federation.build` made; ``first``: round 1
    with its clients already trained, the same bits as training them here (:func:`flsim.panel`)."""
    config = federation.config
    if first is not None and config.record == "rounds":
        raise ValueError("a round trained elsewhere needs record='clients'")
    start = time.perf_counter()
    rounds = [dict(round=0, **federation.evaluate(federation.global_weights),
                   seconds=federation.pretraining_seconds + time.perf_counter() - start)]
    check_converging(config, rounds[0])
    per_client = defaultdict(list)  # table name -> its rows, round by round
    global_weights = federation.global_weights
    played = _rounds_streamed(federation) if config.record == "rounds" else _rounds_holding_clients(federation, first)
    for number in tqdm(range(1, config.num_rounds + 1), desc="rounds", disable=not progress):
        start = time.perf_counter()
        global_weights, tables, seconds_elsewhere = next(played)
        for name, rows in tables.items():
            per_client[name].append(rows)
        rounds.append(dict(round=number, **federation.evaluate(global_weights),
                           seconds=seconds_elsewhere + time.perf_counter() - start))
        check_converging(config, rounds[-1])
    tables = {"rounds": pd.DataFrame(rounds)} | {name: pd.concat(rows, ignore_index=True)
                                                for name, rows in per_client.items()}
    return Results(config, tables, output_layer=federation.trainer.layers.output_layer,
                   final_weights=global_weights.float().cpu().numpy().copy())


def check_converging(config: Config, row: dict) -> None:
    """ConfigError where the round's global model has a non-finite test loss (NaN or inf weights):
    training diverged, and every later round would be noise. Read from the loss each round evaluates
    anyway, so it costs nothing."""
    if not math.isfinite(row["main_loss"]):
        where = "in the server's pre-training (round 0)" if row["round"] == 0 else f"in round {row['round']}"
        scaled = f" and attack_scale={config.attack_scale}" if config.attack_scale != 1 else ""
        raise ConfigError(f"training diverged {where}: the global model's test loss is {row['main_loss']} with "
                          f"lr={config.lr}{scaled}; lower lr (the book uses 0.003 to 0.1)")


def _rounds_holding_clients(federation: Federation, first: TrainedRound | None):
    """Round after round (record="clients" or "clients+median"): the new global weights, the round's per-client tables by name
    (:func:`analyse_round`, and ``defence``) and the seconds its clients trained elsewhere (``first``)."""
    config, trainer, global_weights = federation.config, federation.trainer, federation.global_weights
    round_weights = round_matrix(config.num_chosen, global_weights)  # reused: see its doc
    round_updates = round_matrix(config.num_chosen, global_weights)  # w_k - global
    previous = None  # the last round's global weights
    for number in range(1, config.num_rounds + 1):
        given = first if number == 1 and first is not None else None
        round_ = given.round if given else federation.round(number)
        if given:
            trained = round_weights[:len(round_.chosen)].copy_(given.weights)
        else:
            trained = trainer.train_clients(global_weights, round_.datasets, config.local_epochs, round_.orders,
                                            out=round_weights)
        weights = _submitted(federation, round_, trained, global_weights, previous)
        tables = analyse_round(round_, weights, global_weights, trainer, round_updates[:len(weights)],
                               from_median=config.record == "clients+median")
        aggregation = federation.server.aggregate(weights, global_weights, round_.chosen)
        previous, global_weights = global_weights, aggregation.weights.clone()  # may be a row of round_weights (Krum), overwritten next round
        yield global_weights, tables | {"defence": _defence_rows(round_, aggregation)}, given.seconds if given else 0.0


def _rounds_streamed(federation: Federation):
    """Round after round (record="rounds"): the new global weights, FedAvg summing the clients chunk by
    chunk as they finish, and no per-client tables (the shape of :func:`_rounds_holding_clients`)."""
    config, trainer, global_weights = federation.config, federation.trainer, federation.global_weights
    previous = None  # the last round's global weights
    for number in range(1, config.num_rounds + 1):
        round_, origin = federation.round(number), global_weights
        chunks = trainer.stream_clients(origin, round_.datasets, config.local_epochs, round_.orders)
        global_weights = fedavg_streamed(_submitted(federation, round_, weights, origin, previous, rows)
                                         for rows, weights in chunks)
        previous = origin
        yield global_weights, {}, 0.0


def _submitted(federation: Federation, round_: Round, weights: torch.Tensor, origin: torch.Tensor,
               previous: torch.Tensor | None, rows: slice = slice(None)) -> torch.Tensor:
    """What the clients of ``rows`` of ``round_`` submit: the attackers' rows of ``weights`` shaped by the
    attack steps that apply (:mod:`flsim.attacks.submission`); ``origin`` and ``previous``: this round's and
    the last round's global weights."""
    def context(client: int) -> Submission:
        return Submission(federation.config, round_.number, client, origin, previous, federation.trainer.layers,
                          lambda: federation.train_clean(client, round_.number, origin), federation.evaluate)

    return shape_submissions(weights, round_.chosen[rows], round_.malicious[rows], context)


ANALYSIS_STEPS = ("updates", "median", "statistics", "output_bias", "gram", "detectors", "tables")


def analyse_round(round_: Round, weights: torch.Tensor, global_weights: torch.Tensor, trainer: FlatTrainer,
                  updates: torch.Tensor, from_median: bool = False,
                  seconds: dict[str, float] | None = None, clock=time.perf_counter) -> dict[str, pd.DataFrame]:
    """A round's per-client tables by name: ``updates`` (statistics per tensor), ``output_bias``
    (output-bias deviations) and ``detection`` (detector scores), as in :class:`flsim.results.Results`.

    The updates w_k - global_weights are written once into ``updates`` (a matrix
    like ``weights``, reused round after round) for all of them, and the work is
    shared out among the trainer's worker threads (:meth:`flsim.train.FlatTrainer.map`).
    ``from_median``: also max |w_k - median w| (``record="clients+median"``). ``seconds``:
    if given, each of ``ANALYSIS_STEPS`` adds its time by ``clock`` there (wall time by default; the
    benchmarks and the test suite's scaling gate read it).
    """
    layers = trainer.layers
    with _timed(seconds, "updates", clock):
        trainer.map(lambda rows: torch.sub(weights[rows], global_weights, out=updates[rows]),
                    chunks(len(weights), ROW_CHUNK))
    with _timed(seconds, "median", clock):
        median = coordinate_median(weights, trainer.map) if from_median else None
    with _timed(seconds, "statistics", clock):
        stats = update_statistics(weights, global_weights, layers, updates, map=trainer.map, median=median)
    with _timed(seconds, "output_bias", clock):
        bias = output_bias_deviation(weights, layers.output_bias)
    with _timed(seconds, "gram", clock):
        gram = gram_matrix(updates, trainer.map)
    with _timed(seconds, "detectors", clock):
        scores = detectors.score_all(weights, global_weights, layers, updates, map=trainer.map, gram=gram)
    with _timed(seconds, "tables", clock):
        return {"updates": _update_rows(round_, list(layers), stats), "output_bias": _bias_rows(round_, bias),
                "detection": _detection_rows(round_, scores)}


@contextlib.contextmanager
def _timed(seconds: dict[str, float] | None, step: str, clock):
    """Adds the block's time by ``clock`` to ``seconds[step]``; nothing where ``seconds`` is None."""
    start = clock()
    try:
        yield
    finally:
        if seconds is not None:
            seconds[step] = seconds.get(step, 0.0) + clock() - start


def _update_rows(round_: Round, layers: list[str], stats: dict) -> pd.DataFrame:
    chosen, malicious = round_.chosen, round_.malicious
    k, n = len(chosen), len(layers)
    return pd.DataFrame({
        "round": round_.number,
        "client": np.repeat(chosen, n),
        "malicious": np.repeat(malicious, n),
        "layer": np.tile(layers, k),
        **{name: values.cpu().numpy().reshape(-1) for name, values in stats.items()},
    })


def _bias_rows(round_: Round, bias: torch.Tensor) -> pd.DataFrame:
    chosen, malicious = round_.chosen, round_.malicious
    k, c = bias.shape
    return pd.DataFrame({
        "round": round_.number,
        "client": np.repeat(chosen, c),
        "malicious": np.repeat(malicious, c),
        "class": np.tile(np.arange(c), k),
        "deviation": bias.cpu().numpy().reshape(-1),
    })


def _detection_rows(round_: Round, scores: dict) -> pd.DataFrame:
    chosen, malicious = round_.chosen, round_.malicious
    n = len(scores)
    return pd.DataFrame({
        "round": round_.number,
        "client": np.tile(chosen, n),
        "malicious": np.tile(malicious, n),
        "detector": np.repeat(list(scores), len(chosen)),
        "score": torch.cat(list(scores.values())).cpu().numpy(),
    })


def _defence_rows(round_: Round, aggregation: Aggregation) -> pd.DataFrame:
    accepted = aggregation.accepted
    flags = [pd.NA] * len(round_.chosen) if accepted is None else accepted.cpu().tolist()
    return pd.DataFrame({"round": round_.number, "client": round_.chosen, "malicious": round_.malicious,
                         "accepted": pd.array(flags, dtype="boolean")})

