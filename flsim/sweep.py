"""Many experiments at once, each cached as it finishes (chapters 4-6).

Where they run:

- by default in local worker processes;
- on a Dask distributed cluster, given its scheduler address as ``scheduler=``
  or in ``$FLSIM_SCHEDULER`` (or Dask's own ``$DASK_SCHEDULER_ADDRESS``), so a
  notebook moves to a cluster without changing a line. Needs the ``dask``
  extra (``pip install "flsim[dask]"``) and the same flsim on every worker.

An interrupted sweep resumes where it stopped: finished configs come from the
result cache, only the missing ones run. Each result is cached as soon as it
finishes, by the worker that ran it and, on a cluster whose workers do not
share this machine's disk, by this process when the result arrives. A Dask
worker that dies mid-run has its task rescheduled on another worker.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import torch

from .config import Config
from .experiment import run
from .results import Results, cache_path, load_cached, source_hash

SCHEDULER_VARIABLES = ("FLSIM_SCHEDULER", "DASK_SCHEDULER_ADDRESS")


def sweep(configs: list[Config], workers: int | None = None, scheduler=None) -> list[Results]:
    """Results of ``configs``, in order; the uncached ones run in parallel.

    ``scheduler``: a Dask scheduler address (``"tcp://host:8786"``) or a
    ``distributed.Client``; None falls back to ``$FLSIM_SCHEDULER``, then
    ``$DASK_SCHEDULER_ADDRESS``, then local processes.

    ``workers`` (local processes only), None: one process per four cores. torch
    already uses a few threads well, and on 2 cores two processes were slower
    than one (26.9 s vs 20.6 s for two small runs). ``workers=1`` runs in this
    process.
    """
    configs = list(configs)
    results = [load_cached(c) for c in configs]
    missing = {c.key(): c for c, r in zip(configs, results) if r is None}  # a config listed twice runs once
    if missing:
        if scheduler is None:
            scheduler = next((os.environ[v] for v in SCHEDULER_VARIABLES if os.environ.get(v)), None)
        done = _on_dask(missing, scheduler) if scheduler else _on_processes(missing, workers)
        results = [r if r is not None else done[c.key()] for c, r in zip(configs, results)]
    return results


def _on_processes(configs: dict[str, Config], workers: int | None) -> dict[str, Results]:
    workers = min(workers or max(1, (os.cpu_count() or 1) // 4), len(configs))
    if workers == 1:
        return {key: run(config) for key, config in configs.items()}
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run_in_process, config, threads): key for key, config in configs.items()}
        return _collect(futures, as_completed(futures), configs)


def _run_in_process(config: Config, threads: int) -> Results:
    torch.set_num_threads(threads)
    return run(config)  # cached here, as it finishes


def _on_dask(configs: dict[str, Config], scheduler) -> dict[str, Results]:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError as error:
        raise ImportError('sweeping on a Dask cluster needs dask.distributed: pip install "flsim[dask]"') from error
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler, set_as_default=False)
    try:
        code = source_hash()
        # The key names the result: a config already running for another sweep is not run twice.
        futures = {client.submit(_run_on_dask_worker, config, key=f"flsim-run-{key}-{code}"): key
                   for key, config in configs.items()}
        return _collect(futures, dask_completed(futures, loop=client.loop), configs, code)
    finally:
        if client is not scheduler:
            client.close()


def _run_on_dask_worker(config: Config) -> tuple[str, Results]:
    return source_hash(), run(config)  # cached on the worker's disk ($FLSIM_CACHE there)


def _collect(futures: dict, completed, configs: dict[str, Config], code: str | None = None) -> dict[str, Results]:
    """Each result as it arrives, cached here; the other runs finish even if one fails."""
    done, errors = {}, []
    for future in completed:
        key = futures[future]
        try:
            result = future.result()
        except Exception as error:  # noqa: BLE001 - raised below, after the others are saved
            errors.append((configs[key], error))
            continue
        if code is not None:
            worker_code, result = result
            if worker_code != code:
                raise RuntimeError(f"a Dask worker runs other flsim code (source hash {worker_code}, here {code}); "
                                   "install the same flsim on every worker")
        if load_cached(configs[key]) is None:  # a worker on another machine cached it there, not here
            result.save(cache_path(configs[key]))
        done[key] = result
    if errors:
        config, error = errors[0]
        raise RuntimeError(f"{len(errors)} of {len(futures)} runs failed; the others are cached. "
                           f"First failure: {config}") from error
    return done
