"""flsim.sweep: local processes and a real Dask cluster; results cached as they finish, interruptions resumed."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

import flsim
from flsim import cache
from tests.conftest import TINY

distributed = pytest.importorskip("distributed")

# Smaller than TINY (one round, 3 clients x 50 samples): about a second per run on an idle 2-core CPU.
SMALL = {**TINY, "num_clients": 3, "samples_per_client": 50, "num_rounds": 1, "eval_samples": 100,
         "server_share": 0.02}


def configs(n):
    return [flsim.Config(**SMALL, seed=seed) for seed in range(n)]


def cached_seconds(config):
    """The timings stored in the cache: a run that was read back, not recomputed, has exactly these."""
    return pd.read_parquet(cache.cache_path(config) / "rounds.parquet").seconds.tolist()


def assert_same_results(a, b):
    """The same bits in every table but the timings (a Dask worker runs on 1 thread, this process on more)."""
    pd.testing.assert_frame_equal(a.rounds.drop(columns="seconds"), b.rounds.drop(columns="seconds"), check_exact=True)
    for name in ("updates", "output_bias", "detection", "defence"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


def test_local_sweep_keeps_order_and_reads_finished_runs_from_the_cache():
    first, second = configs(2)
    [done] = flsim.sweep([first], workers=1)
    before = cached_seconds(first)
    results = flsim.sweep([second, first, second], workers=1)
    assert [r.config for r in results] == [second, first, second]
    assert results[1].rounds.seconds.tolist() == before  # read back, not rerun
    assert results[0] is results[2]  # a config listed twice runs once
    pd.testing.assert_frame_equal(results[1].updates, done.updates)


def test_killed_sweep_resumes_without_recomputing(tmp_path):
    """A sweep killed mid-way (kill -9) keeps the runs it finished; rerun, it does only the rest."""
    todo = configs(3)
    script = f"import flsim; flsim.sweep([flsim.Config(**{SMALL!r}, seed=s) for s in range(3)], workers=1)"
    process = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 300
        while not (cache.cache_path(todo[0]) / "config.json").exists():
            assert process.poll() is None and time.monotonic() < deadline, "the first run never finished"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = [c for c in todo if cache.load_cached(c) is not None]
    assert 1 <= len(finished) < 3
    before = {c.key(): cached_seconds(c) for c in finished}
    results = flsim.sweep(todo, workers=1)
    assert [r.config for r in results] == todo
    for config, result in zip(todo, results):
        if config.key() in before:
            assert result.rounds.seconds.tolist() == before[config.key()]
        assert cache.load_cached(config) is not None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A real two-process Dask cluster whose workers cache on their own disk (another directory)."""
    worker_cache = tmp_path_factory.mktemp("worker-cache")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"FLSIM_CACHE": str(worker_cache)}) as cluster:
        cluster.worker_cache = worker_cache
        yield cluster


def test_dask_sweep_survives_a_killed_worker(cluster):
    todo = configs(4)
    flsim.sweep(todo[:1], workers=1)  # finished before: must not be submitted
    before = cached_seconds(todo[0])
    outcome = {}

    def sweep():
        try:
            outcome["results"] = flsim.sweep(todo, scheduler=cluster.scheduler_address)
        except BaseException as error:  # reported by the main thread
            outcome["error"] = error

    with distributed.Client(cluster, set_as_default=False) as client:
        thread = threading.Thread(target=sweep)
        thread.start()
        deadline = time.monotonic() + 300
        while not (busy := [w for w, tasks in client.processing().items() if tasks]):
            assert thread.is_alive() and time.monotonic() < deadline, "no run ever started on the cluster"
            time.sleep(0.05)
        victim = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(victim, signal.SIGKILL)  # mid-run: the scheduler reschedules its task
        thread.join(timeout=600)
        assert victim not in client.run(os.getpid).values()  # the nanny started a fresh worker process
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    results = outcome["results"]
    assert [r.config for r in results] == todo
    assert results[0].rounds.seconds.tolist() == before
    assert not (cluster.worker_cache / cache.cache_path(todo[0]).name).exists()
    for config, result in zip(todo[1:], results[1:]):
        # Cached as it finished, by the worker (its own disk) and here.
        assert (cluster.worker_cache / cache.cache_path(config).name / "config.json").exists()
        pd.testing.assert_frame_equal(cache.load_cached(config).updates, result.updates)
    assert_same_results(results[1], flsim.run(todo[1], cache=False))
    assert len({r.rounds.main_loss.iloc[-1] for r in results}) == 4  # four different seeds, four runs


def test_scheduler_from_the_environment(cluster, monkeypatch):
    config = flsim.Config(**SMALL, seed=10)
    monkeypatch.setenv("FLSIM_SCHEDULER", cluster.scheduler_address)
    [result] = flsim.sweep([config])
    assert (cluster.worker_cache / cache.cache_path(config).name / "config.json").exists()
    assert np.isfinite(result.rounds.main_loss).all()


def spawned_children(parent: int) -> list[int]:
    """The worker processes ``parent`` spawned (multiprocessing's spawn start method), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{entry}/stat").read()
            command = open(f"/proc/{entry}/cmdline").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and "spawn_main" in command:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
def test_worker_processes_end_when_the_sweep_is_killed():
    script = f"import flsim; flsim.sweep([flsim.Config(**{SMALL!r}, seed=s) for s in range(40)], workers=2)"
    process = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 300
        # Until the workers run configs (their first results are cached): killed while they still import
        # torch, they would end only once the import is done and they see their parent gone.
        while len(workers := spawned_children(process.pid)) < 2 or not cache.cache_dir().exists() \
                or len(list(cache.cache_dir().iterdir())) < 2:
            assert process.poll() is None and time.monotonic() < deadline, "the sweep never ran a config"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"worker processes {left} outlived the sweep by 10 s"
