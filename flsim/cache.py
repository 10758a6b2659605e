"""The result cache: one saved :class:`~flsim.results.Results` per config and version of flsim's code.

An entry is keyed by :meth:`flsim.config.Config.key` and a hash of flsim's source.
The cache heals itself and never costs a run its results:

- an entry that fails to load, fails its checksums or holds another config is
  reported (a :class:`CacheWarning` naming it), moved aside into
  ``.damaged/`` and computed again;
- an unusable cache directory (read-only, a file, ...) is reported once and
  the run goes on without caching;
- two processes that finish the same config both succeed: the first complete
  entry stays, the other copy is discarded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import warnings
from pathlib import Path

import platformdirs

from . import atomic
from .config import Config
from .results import Results

DAMAGED = ".damaged"  # where entries that failed to load are moved, inside the cache directory
_reported: set[str] = set()  # unusable cache directories already warned about


class CacheWarning(UserWarning):
    """The result cache could not be used as expected; the run goes on."""


def cache_dir() -> Path:
    """Where results are cached: ``$FLSIM_CACHE``, else the user cache dir."""
    return Path(os.environ.get("FLSIM_CACHE") or Path(platformdirs.user_cache_dir("flsim")) / "results")


# The modules a simulation runs through (tests/test_cache.py follows experiment's imports to check it):
# a change to one of them gives new cache keys; the analysis, the plots, the chapters' helpers, the
# command line, sweeps and the cache itself change no simulated number, so editing them recomputes nothing.
SIMULATION_MODULES = ("aggregators", "attacks", "config", "data", "detectors", "devicecheck", "experiment",
                      "federation", "flat", "layout", "metrics", "models", "panels", "partition", "pretraining",
                      "registry", "results", "robust", "train", "workers")


def source_hash() -> str:
    """A hash of the source of the modules (and packages) a simulation runs through (``SIMULATION_MODULES``)."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for name in SIMULATION_MODULES:
        package = root / name
        for path in sorted(package.glob("*.py")) if package.is_dir() else [root / f"{name}.py"]:
            digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def cache_path(config: Config) -> Path:
    return cache_dir() / f"{config.key()}-{source_hash()}"


def load_cached(config: Config) -> Results | None:
    """The cached results of ``config``, or None; a damaged entry is moved aside and None returned."""
    path = cache_path(config)
    try:
        if not path.exists():
            return None
    except OSError as error:  # e.g. no permission to look
        _report_unusable(error)
        return None
    try:
        results = Results.load(path)
        if results.config.key() != config.key():
            raise ValueError(f"it holds another config ({results.config})")
    except Exception as error:  # noqa: BLE001 - whatever broke the entry, the run is computed again
        _set_aside(path, error)
        return None
    return dataclasses.replace(results, config=config)  # as asked: e.g. data_dir is not part of the key


def store(results: Results) -> Path | None:
    """Cache ``results``; where the cache directory is unusable, warn once and return None."""
    path = cache_path(results.config)
    try:
        with atomic.staging(path) as staging:
            results._write(staging)
            atomic.publish(staging, path, replace=False)  # another process's complete entry wins
    except OSError as error:
        _report_unusable(error)
        return None
    return path


def _set_aside(path: Path, error: Exception) -> None:
    aside = cache_dir() / DAMAGED / f"{path.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        aside.parent.mkdir(exist_ok=True)
        os.rename(path, aside)
        where = f"moved to {aside}"
    except OSError as move_error:
        where = f"could not be moved aside ({move_error})"
    warnings.warn(f"cached result {path} is damaged ({type(error).__name__}: {error}); {where}; "
                  "computing it again", CacheWarning, stacklevel=3)


def _report_unusable(error: OSError) -> None:
    directory = str(cache_dir())
    if directory not in _reported:
        _reported.add(directory)
        warnings.warn(f"the result cache {directory} is unusable ({type(error).__name__}: {error}); "
                      "results are not cached (set FLSIM_CACHE to a writable directory)", CacheWarning,
                      stacklevel=3)
