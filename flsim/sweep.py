"""Many experiments at once, each cached as it finishes (chapters 5-7).

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

Models and aggregation rules registered in this process
(:func:`flsim.register_model`, :func:`flsim.register_aggregator`) go with
every task, pickled by value, so a rule defined in a notebook runs on the
workers too.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import torch
from tqdm import tqdm  # plain text bar: tqdm.auto warns in kernels without ipywidgets

from .cache import load_cached, source_hash, store
from .config import Config, ConfigError, require_configs
from .experiment import run
from .registry import install, user_registrations
from .results import Results

SCHEDULER_VARIABLES = ("FLSIM_SCHEDULER", "DASK_SCHEDULER_ADDRESS")
PARENT_CHECK_SECONDS = 0.5  # how often a worker process looks whether the sweep that started it still runs


def sweep(configs: list[Config], workers: int | None = None, scheduler=None, progress: bool = False) -> list[Results]:
    """Results of ``configs``, in order; the uncached ones run in parallel.

    ``scheduler``: a Dask scheduler address (``"tcp://host:8786"``) or a
    ``distributed.Client``; None falls back to ``$FLSIM_SCHEDULER``, then
    ``$DASK_SCHEDULER_ADDRESS``, then local processes.

    ``workers`` (local processes only, an integer >= 1), None: one process per four
    cores, since a run already trains a client per core. ``workers=1`` runs in this
    process. An empty ``configs`` gives an empty list.
    Worker processes end when this process ends, even if it is killed.

    ``progress``: a bar over the runs that are not cached yet.
    """
    configs = require_configs(configs, "flsim.sweep")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers={workers!r} is not allowed; give a number of processes >= 1 (1: in this "
                          "process), or None for one per four cores")
    if scheduler is not None:
        _check_scheduler(scheduler, "scheduler")
    results = [load_cached(c) for c in configs]
    missing = {c.key(): c for c, r in zip(configs, results) if r is None}  # a config listed twice runs once
    if missing:
        if scheduler is None:
            variable = next((v for v in SCHEDULER_VARIABLES if os.environ.get(v)), None)
            scheduler = os.environ[variable] if variable else None
            if scheduler:
                _check_scheduler(scheduler, f"${variable}")
        with tqdm(total=len(missing), desc="runs", unit="run", disable=not progress) as bar:
            done = _on_dask(missing, scheduler, bar) if scheduler else _on_processes(missing, workers, bar)
        results = [r if r is not None else done[c.key()] for c, r in zip(configs, results)]
    return results


# A Dask scheduler's address: [protocol://]host:port (tcp, tls, ws, wss, ucx, inproc), as distributed reads it.
_ADDRESS = re.compile(r"^((tcp|tls|ws|wss|ucx)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):\d{1,5}/?$|^inproc://\S+$")


def _check_scheduler(scheduler, name: str) -> None:
    """A scheduler address that cannot be one fails here, not after distributed's connect timeout."""
    if isinstance(scheduler, str):
        if not _ADDRESS.match(scheduler.strip()):
            raise ConfigError(f"{name}={scheduler!r} is not a Dask scheduler address; give one like "
                              "'tcp://host:8786' (or host:8786), or a distributed.Client")
        return
    if type(scheduler).__name__ != "Client":  # distributed is imported only where it is used
        raise ConfigError(f"{name} must be a Dask scheduler address like 'tcp://host:8786' or a distributed.Client, "
                          f"got {type(scheduler).__name__}")


def _on_processes(configs: dict[str, Config], workers: int | None, bar: tqdm) -> dict[str, Results]:
    workers = min(workers or max(1, (os.cpu_count() or 1) // 4), len(configs))
    if workers == 1:
        done = {}
        for key, config in configs.items():
            done[key] = run(config)
            bar.update()
        return done
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start_worker,
                             initargs=(os.getpid(), user_registrations())) as pool:
        futures = {pool.submit(_run_in_process, config, threads): key for key, config in configs.items()}
        return _collect(futures, as_completed(futures), configs, bar)


def _start_worker(parent: int, registrations: bytes | None) -> None:
    """In a worker process: the user's models and rules, and an end as soon as the sweep's process is gone."""
    install(registrations)
    _watch_parent(parent)


def _watch_parent(parent: int) -> None:
    """In a worker process: end it as soon as the sweep's process is gone (killed, say), mid-run or idle."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)  # the parent is gone: nobody will read this worker's results

    threading.Thread(target=watch, name="flsim-parent-watch", daemon=True).start()


def _run_in_process(config: Config, threads: int) -> Results:
    torch.set_num_threads(threads)  # speed only: the results are the same bits at any thread count
    return run(config)  # cached here, as it finishes


def _on_dask(configs: dict[str, Config], scheduler, bar: tqdm) -> dict[str, Results]:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError as error:
        raise ImportError('sweeping on a Dask cluster needs dask.distributed: pip install "flsim[dask]"') from error
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler, set_as_default=False)
    try:
        code, registrations = source_hash(), user_registrations()
        # The key names the result: a config already running for another sweep is not run twice.
        futures = {client.submit(_run_on_dask_worker, config, registrations, key=f"flsim-run-{key}-{code}"): key
                   for key, config in configs.items()}
        return _collect(futures, dask_completed(futures, loop=client.loop), configs, bar, code)
    finally:
        if client is not scheduler:
            client.close()


def _run_on_dask_worker(config: Config, registrations: bytes | None) -> tuple[str, Results]:
    install(registrations)
    return source_hash(), run(config)  # cached on the worker's disk ($FLSIM_CACHE there)


def _collect(futures: dict, completed, configs: dict[str, Config], bar: tqdm,
             code: str | None = None) -> dict[str, Results]:
    """Each result as it arrives, cached here; the other runs finish even if one fails."""
    done, errors = {}, []
    for future in completed:
        key = futures[future]
        bar.update()
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
            store(result)
        done[key] = result
    if errors:
        config, error = errors[0]
        raise RuntimeError(f"{len(errors)} of {len(futures)} runs failed; the others are cached. "
                           f"First failure: {config}") from error
    return done
