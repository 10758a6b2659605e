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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
    if config.record == "clients":  # the runs that record every detector's scores
        settings["detectors"] = detector_identities()
    settings["excluded_indices"] = sorted(config.excluded_indices or ())  # a set: () and None alike
    settings["device"] = kind = device_kind(config.device)
    settings["backend"] = config.training_backend()
    settings["torch"] = torch.__version__
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
