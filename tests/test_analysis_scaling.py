"""The gate on the round's analysis: no step's cost may grow faster than its work between 10 and 100 clients.

Measured in one run as a ratio of the same step's times, in the CPU time of one thread, not against
a wall clock, so a slower or busier machine barely moves it. A step's work is linear in the clients
(the updates, the median, the statistics, the tables) or, for the pairwise steps (the Gram matrix,
the detectors that read it), in the pairs of clients.
"""

import time

import numpy as np
import pytest
import torch

from flsim import metrics
from flsim.experiment import ANALYSIS_STEPS, analyse_round
from flsim.federation import Round
from flsim.layout import Layers
from flsim.workers import intra_op_threads

PAIRWISE = {"gram", "detectors"}  # their work grows with the pairs of clients
GROWTH_ALLOWED = 3.0  # cost per unit of work at 100 clients / at 10, at most
FLOOR = 0.01  # seconds: a step this quick at 100 clients is too quick to time, and to matter
SIZES = {"conv.weight": 20_000, "conv.bias": 32, "fc1.weight": 180_000, "fc1.bias": 128,
         "fc2.weight": 1_280, "fc2.bias": 10}


class Trainer:
    """What analyse_round reads of a trainer: the tensors' slices and a map (one thread: steadier times)."""

    layers = Layers({name: slice(start, start + size) for name, start, size in
                     zip(SIZES, np.cumsum([0, *SIZES.values()]), SIZES.values())}, "fc2")

    @staticmethod
    def map(job, items):
        return list(map(job, items))


def step_seconds(clients: int, repeats: int = 3) -> dict[str, float]:
    """Each analysis step's least seconds over ``repeats`` rounds of ``clients`` random updates."""
    parameters = sum(SIZES.values())
    generator = torch.Generator().manual_seed(clients)
    global_weights = torch.randn(parameters, generator=generator)
    weights = global_weights + 0.01 * torch.randn(clients, parameters, generator=generator)
    round_ = Round(1, np.arange(clients), np.zeros(clients, dtype=bool), [], [])
    updates = torch.zeros_like(weights)  # written before the clock runs, as simulate reuses its matrix
    best = {}
    with intra_op_threads(1):  # the step's whole work on this thread, where its CPU time counts it
        for _ in range(repeats):
            seconds = {}
            analyse_round(round_, weights, global_weights, Trainer(), updates, from_median=True, seconds=seconds,
                          clock=time.thread_time)
            best = {step: min(value, best.get(step, np.inf)) for step, value in seconds.items()}
    return best


def growth(small: dict, large: dict, clients: tuple[int, int] = (10, 100)) -> dict[str, float]:
    """Per step timed long enough to tell: its cost per unit of work at the larger round / at the smaller."""
    few, many = clients
    work = {step: (many * (many + 1)) / (few * (few + 1)) if step in PAIRWISE else many / few for step in large}
    return {step: large[step] / small[step] / work[step] for step in large if large[step] >= FLOOR}


def sorted_median(block: torch.Tensor, network_rows: int = 16) -> torch.Tensor:
    """The median as it was before this gate: the strided columns sorted (torch.sort along dimension 0)."""
    if len(block) <= network_rows:
        return fast_median(block, network_rows)
    ordered = block.sort(0).values
    return (ordered[(len(block) - 1) // 2] + ordered[len(block) // 2]) / 2


fast_median = metrics.column_median


def test_every_analysis_step_is_timed():
    assert set(step_seconds(4, repeats=1)) == set(ANALYSIS_STEPS)


def test_no_analysis_step_grows_faster_than_its_work_from_10_to_100_clients():
    rates = growth(step_seconds(10), step_seconds(100))
    assert {"statistics", "median", "gram"} <= set(rates)  # the long steps are gated
    slower = {step: round(rate, 1) for step, rate in rates.items() if rate > GROWTH_ALLOWED}
    assert not slower, f"cost per unit of work grew more than {GROWTH_ALLOWED}x from 10 to 100 clients: {slower}"


def test_the_gate_fails_on_the_median_by_sorting_strided_columns(monkeypatch):
    monkeypatch.setattr(metrics, "column_median", sorted_median)  # the regression the gate was built after
    rates = growth(step_seconds(10, repeats=1), step_seconds(100, repeats=1))
    assert rates["median"] > GROWTH_ALLOWED
