"""How close a training step comes to the machine: samples/s against measured fp32 matmul FLOP/s.

Each trial measures, back to back, the matmul throughput, flsim's training
(:meth:`flsim.train.FlatTrainer.train` on EPOCH_SAMPLES samples, batch 64) and
a plain PyTorch training loop on the same samples (``nn.Module``,
``torch.optim.SGD``, a pre-made batch per step: no DataLoader). Other
programs running on the machine slow all three alike, so each trial's
fractions of the peak are comparable; the report is the median over trials.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.nn import functional as F

from flsim.train import FlatTrainer

from . import common

EPOCH_SAMPLES = 640  # ten steps of batch 64


def matmul_flops(n: int = 2048, repeats: int = 3) -> float:
    """fp32 FLOP/s of an n x n matrix product (2 n^3 FLOPs), the best of ``repeats``."""
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def flsim_trainer(x, y):
    trainer = FlatTrainer(common.initial_model(), common.LR, common.BATCH)
    start = trainer.weights.clone()
    generator = torch.Generator().manual_seed(0)
    return lambda: trainer.train(start, x, y, 1, generator)


def plain_trainer(x, y):
    model = common.initial_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=common.LR)
    batches = [(x[i:i + common.BATCH], y[i:i + common.BATCH]) for i in range(0, len(x), common.BATCH)]

    def epoch():
        model.train()
        for xb, yb in batches:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    return epoch


def measure(trials: int = 7, contestants=None) -> dict:
    """Median matmul FLOP/s, samples/s and fraction of the matmul FLOP/s per contestant."""
    x, y = common.client_data(1, EPOCH_SAMPLES)[0]
    contestants = contestants or {"flsim": flsim_trainer, "plain PyTorch": plain_trainer}
    runs = {name: make(x, y) for name, make in contestants.items()}
    for run in runs.values():
        run()  # warm-up: oneDNN builds its kernels on first use
    flops = common.train_flops_per_sample(common.initial_model())
    peaks, rates, fractions = [], {n: [] for n in runs}, {n: [] for n in runs}
    for _ in range(trials):
        peak = matmul_flops()
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            rates[name].append(EPOCH_SAMPLES / (time.perf_counter() - start))
        peak = max(peak, matmul_flops())  # the better of the two measurements around the trial
        peaks.append(peak)
        for name in runs:
            fractions[name].append(rates[name][-1] * flops / peak)
    return dict(
        matmul_gflops=statistics.median(peaks) / 1e9,
        train_mflop_per_sample=flops / 1e6,
        trials=trials,
        threads=torch.get_num_threads(),
        contestants={name: dict(samples_per_second=statistics.median(rates[name]),
                                fraction_of_matmul=statistics.median(fractions[name]))
                     for name in runs},
    )


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
