"""How close a training step comes to the machine: samples/s against measured fp32 matmul FLOP/s.

Each contestant runs in its own process (flsim's trainer tunes the process's
memory allocator, which would speed up a plain loop in the same process):
flsim's training (:meth:`flsim.flat.FlatModel.train` on EPOCH_SAMPLES
samples, batch 64) or a plain PyTorch training loop on the same samples
(``nn.Module``, ``torch.optim.SGD``, a pre-made batch per step: no
DataLoader). Each trial measures the matmul throughput right before and after
an epoch, so programs that load the machine slow both alike; the report is the
median over trials of the fraction.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.nn import functional as F

from flsim.flat import FlatModel
from flsim.hardware import matmul_flops

from . import common

EPOCH_SAMPLES = 640  # ten steps of batch 64


def flsim_trainer(x, y):
    trainer = FlatModel(common.initial_model(), common.LR, common.BATCH)
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


def measure(contestant: str, trials: int) -> dict:
    """Per trial: matmul FLOP/s (the better of the measurements before and after) and samples/s.

    With ``BENCH_THREADS=1`` torch uses one thread and the clock is this
    thread's CPU time, which other programs on the machine barely disturb.
    """
    threads = common.threads()
    torch.set_num_threads(threads)
    clock = time.thread_time if threads == 1 else time.perf_counter
    x, y = common.client_data(1, EPOCH_SAMPLES)[0]
    run = {"flsim": flsim_trainer, "plain": plain_trainer}[contestant](x, y)
    run()  # warm-up: oneDNN builds its kernels on first use
    flops = common.train_flops_per_sample(common.initial_model())
    peaks, rates = [], []
    for _ in range(trials):
        before = matmul_flops(clock=clock)
        start = clock()
        run()
        rates.append(EPOCH_SAMPLES / (clock() - start))
        peaks.append(max(before, matmul_flops(clock=clock)))
    return dict(contestant=contestant, threads=threads, clock="thread CPU time" if threads == 1 else "wall",
                train_flop_per_sample=flops, matmul_flops=peaks, samples_per_second=rates,
                fraction_of_matmul=[r * flops / p for r, p in zip(rates, peaks)])


def summary(record: dict) -> dict:
    return dict(matmul_gflops=statistics.median(record["matmul_flops"]) / 1e9,
                samples_per_second=statistics.median(record["samples_per_second"]),
                fraction_of_matmul=statistics.median(record["fraction_of_matmul"]))


if __name__ == "__main__":  # python -m benchmarks.hardware CONTESTANT TRIALS OUT
    import json
    import sys
    from pathlib import Path

    Path(sys.argv[3]).write_text(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
