"""Threads for a round's work on CPU: a persistent pool whose threads each run torch on one intra-op thread.

A round's clients train on these threads, a client per thread (:mod:`flsim.train`), and
its analysis runs on them in fixed chunks (:mod:`flsim.metrics`, :mod:`flsim.detectors`).
Every job computes the same bits on whichever thread it lands, and results come back
in the order of the jobs, so a round's numbers do not depend on the number of cores.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

from .devicecheck import checked


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Runs the block with ``count`` torch intra-op threads in this thread, then restores the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class WorkerPool:
    """``threads`` worker threads, each running torch on one intra-op thread.

    :meth:`map` is :func:`map` run on the workers: one job per item, the
    results in order. :meth:`start` queues the jobs and returns a function that
    waits for them, so the caller can work meanwhile.
    """

    def __init__(self, threads: int):
        self.threads = threads
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="flsim-worker",
                                            initializer=torch.set_num_threads, initargs=(1,))

    def start(self, job: Callable, items: Iterable) -> Callable[[], list]:
        """Starts ``job(item)`` for each item; the function returned waits for them and returns their
        results in order, re-raising the first error (the jobs not yet started are then cancelled)."""
        caller = torch.get_num_threads()
        job = checked(job)  # under the caller's device check, if one runs (flsim.devicecheck)
        futures = [self._executor.submit(job, item) for item in items]

        def wait() -> list:
            try:
                return [future.result() for future in futures]
            finally:
                for future in futures:
                    future.cancel()
                torch.set_num_threads(caller)  # a new worker's set_num_threads(1) also set the default for new threads

        return wait

    def map(self, job: Callable, items: Iterable) -> list:
        """``list(map(job, items))``, the jobs run on the workers."""
        return self.start(job, items)()

    def shutdown(self) -> None:
        """Lets the idle workers go (queued jobs still run)."""
        self._executor.shutdown(wait=False)
