"""The machine's speed in one number: fp32 matrix-product FLOP/s.

Machines of one kind differ up to 3x; a run time means something elsewhere
only beside this figure, measured in the same run (the benchmarks, the book's
execution report).
"""

from __future__ import annotations

import time

import torch


def matmul_flops(n: int = 2048, repeats: int = 3, clock=time.perf_counter) -> float:
    """fp32 FLOP/s of an n x n matrix product (2 n^3 FLOPs) on torch's threads, the best of ``repeats``."""
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        torch.mm(a, b, out=c)
        best = min(best, clock() - start)
    return 2 * n ** 3 / best
