"""The result cache: one saved :class:`~flsim.results.Results` per config and version of flsim's code.

An entry is keyed by :func:`config_key` (the settings that change results,
:func:`key_settings`) and a hash of flsim's source.
The cache heals itself and never costs a run its results:

- an entry that fails to load, fails its checksums or holds another config is
  reported (a :class:`CacheWarning` naming it), moved aside into
  ``.damaged/`` and computed again;
- an unusable cache directory (read-only, a file, ...) is reported once and
  the run goes on without caching;
- two processes that finish the same config both succeed: the first complete
  entry stays, the other copy is discarded.

The cache is trusted input. Its checksums find damage (a truncated file, a
disk error), not intent: whoever can write in the cache directory can edit an
entry's numbers, recompute its checksums and have them served. Loading runs no
code (JSON, Parquet and numpy without pickle), and the cache directory must be
this user's own and writable by no one else: flsim makes it so (mode 0700) and
refuses one that is group- or world-writable or another user's
(:class:`UnsafeCacheError`), unless ``$FLSIM_TRUST_CACHE=1`` says that everyone
who can write there is trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import stat
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


class UnsafeCacheError(PermissionError):
    """The cache directory is writable by other users (or is theirs): its entries cannot be trusted."""


TRUST_VARIABLE = "FLSIM_TRUST_CACHE"  # =1: serve from a shared cache directory all the same


def cache_dir() -> Path:
    """Where results are cached: ``$FLSIM_CACHE``, else the user cache dir."""
    return Path(os.environ.get("FLSIM_CACHE") or Path(platformdirs.user_cache_dir("flsim")) / "results")


# The modules a simulation runs through (tests/test_cache.py follows experiment's imports to check it):
# a change to one of them gives new cache keys; the analysis, the plots, the chapters' helpers, the
# command line, sweeps and the cache itself change no simulated number, so editing them recomputes nothing.
SIMULATION_MODULES = ("aggregators", "attacks", "config", "data", "detectors", "devicecheck", "experiment",
                      "federation", "flat", "layout", "metrics", "models", "panels", "partition", "pretraining",
                      "registry", "results", "robust", "train", "workers")


def key_settings(config: Config) -> dict:
    """The settings of ``config`` that change results (not where data lives), as its cache key hashes them.

    The semantic backdoor is hashed by its image indices, so a named set, the
    dataset's default (None) and the same indices given as semantic_indices
    share a key. The model and the aggregation rule are hashed by what
    identifies their code (:func:`flsim.models.identity`,
    :meth:`flsim.aggregators.AggregatorSpec.identity`), never by name alone,
    and so are a user's attack steps that apply
    (:func:`flsim.attacks.submission.user_step_identities`) and the registered
    detectors of a run that records their scores
    (:func:`flsim.detectors.detector_identities`). A plug-in's option that no
    chosen plug-in reads is left out (:func:`unread_options`: ``krum_f`` under
    FedAvg does not split the cache). The device is hashed as the kind it
    resolves to here, with the training backend it resolves to (never "auto")
    and torch's version; on CUDA also the GPU's model and the precision flags
    runs keep to (:func:`flsim.train.exact_fp32`). Results are the same bits on
    any CPU thread count, not between a CPU and a GPU, nor between two GPU models.
    """
    import numpy
    import torch

    from . import models
    from .aggregators import aggregator_identity
    from .attacks import semantic_indices
    from .attacks.submission import user_step_identities
    from .config import DATASET_SHAPES, device_kind
    from .detectors import detector_identities

    unread = unread_options(config) | {"data_dir", "semantic_indices"}
    settings = {k: v for k, v in config.to_dict().items() if k not in unread}
    if config.attack == "semantic":
        settings["semantic_set"] = list(semantic_indices(config.dataset, config.semantic_set, config.semantic_indices))
    shape, classes = DATASET_SHAPES[config.dataset]
    settings["model"] = models.identity(models.MODELS.entry(config.model), shape, classes)
    settings["aggregator"] = aggregator_identity(config.aggregator)
    if steps := user_step_identities(config):  # a user's attack steps that shape this config's submissions
        settings["attack_steps"] = steps
    if config.record != "rounds":  # the runs that record every detector's scores
        settings["detectors"] = detector_identities()
    settings["excluded_indices"] = sorted(config.excluded_indices or ())  # a set: () and None alike
    settings["device"] = kind = device_kind(config.device)
    if kind == "cuda":
        from .federation import check_device  # late import: federation loads data and models

        check_device(config.device)  # a key names the GPU: ConfigError here where there is none
    settings["backend"] = config.training_backend()
    settings["torch"] = torch.__version__
    settings["numpy"] = numpy.__version__  # its generators draw the split, the choice of clients, the noise
    settings["scikit-learn"] = _version("scikit-learn")  # FLAME's clustering (HDBSCAN)
    if kind == "cuda":  # on a GPU, its model and the precision flags flsim runs under (train.exact_fp32)
        settings["gpu"] = torch.cuda.get_device_name()
        settings["precision"] = "fp32, TF32 off, cuDNN deterministic"
    return settings


def unread_options(config: Config) -> set[str]:
    """The plug-ins' options that none of ``config``'s plug-ins reads: the fields the registered rules and
    attack steps declare (``options``), less those of its rule and of the steps that apply to it. Empty
    where one of its plug-ins does not declare what it reads."""
    from .aggregators import AGGREGATORS
    from .attacks.submission import STEPS, steps_for

    chosen = [AGGREGATORS.entry(config.aggregator), *steps_for(config).values()]
    if any(spec.options is None for spec in chosen):
        return set()
    declared = {option for spec in [*AGGREGATORS.values(), *STEPS.values()] for option in spec.options or ()}
    return declared - {option for spec in chosen for option in spec.options}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_safe(directory: Path) -> None:
    """:class:`UnsafeCacheError` where ``directory`` is a directory another user owns or may write in
    (group or others), unless ``$FLSIM_TRUST_CACHE=1``; nothing where it is missing or no directory (the
    run then goes on uncached, as for any unusable cache)."""
    try:
        info = os.stat(directory)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode) or os.environ.get(TRUST_VARIABLE) == "1":
        return
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid():
        found = f"owned by another user (uid {info.st_uid}, you are {os.geteuid()})"
    elif mode & (stat.S_IWGRP | stat.S_IWOTH):
        found = f"writable by {'others' if mode & stat.S_IWOTH else 'its group'} (mode {mode:04o})"
    else:
        return
    raise UnsafeCacheError(f"the result cache {directory} is {found}: whoever can write there could plant results "
                           f"that flsim would serve as yours. Use a directory of your own (chmod go-w {directory}, "
                           f"or set FLSIM_CACHE), or set {TRUST_VARIABLE}=1 if everyone who can write there is "
                           "trusted")


def config_key(config: Config) -> str:
    """A stable hash of :func:`key_settings`: what the cache files ``config``'s results under."""
    return hashlib.sha256(json.dumps(key_settings(config), sort_keys=True).encode()).hexdigest()[:16]


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
    check_safe(cache_dir())
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
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # this user's alone (module docstring)
    except OSError as error:
        _report_unusable(error)
        return None
    check_safe(path.parent)  # raised, not reported: a shared cache is refused, never used quietly
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
