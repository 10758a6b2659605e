"""What identifies a run: the settings that change its results, their hash (the cache key) and the hash of
the code a simulation runs through.

A run is known by :func:`config_key` (a hash of :func:`key_settings`) and
:func:`source_hash`; :mod:`flsim.cache` files results under the two, and
:meth:`flsim.config.Config.key` is :func:`config_key`. The settings are what a
config resolves to here: its own fields, less those no chosen plug-in reads
(:func:`unread_options`); each plug-in as its registry identifies it
(:func:`flsim.models.identity`, :meth:`flsim.aggregators.AggregatorSpec.identity`,
:func:`flsim.attacks.submission.user_step_identities`,
:func:`flsim.detectors.detector_identities`); the device kind and the training
backend that "auto" means on this machine (:func:`training_backend`); and the
versions of the libraries that shape the numbers.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import numpy
import torch

from . import models
from .aggregators import AGGREGATORS, aggregator_identity
from .attacks import semantic_indices
from .attacks.submission import STEPS, steps_for, user_step_identities
from .config import DATASET_SHAPES, Config, check_device, device_kind
from .detectors import detector_identities
from .train import backend_name

# The modules a simulation runs through (tests/test_cache.py follows experiment's imports to check it):
# a change to one of them gives new cache keys; the analysis, the plots, the chapters' helpers, the
# command line, sweeps, the cache and this module change no simulated number, so editing them recomputes
# nothing.
SIMULATION_MODULES = ("aggregators", "attacks", "config", "data", "deepsight", "detectors", "devicecheck",
                      "experiment", "federation", "flat", "layout", "metrics", "models", "panels", "partition",
                      "pretraining", "registry", "results", "robust", "train", "workers")


def config_key(config: Config) -> str:
    """A stable hash of :func:`key_settings`: what the result cache files ``config``'s results under."""
    return hashlib.sha256(json.dumps(key_settings(config), sort_keys=True).encode()).hexdigest()[:16]


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
    resolves to here, with the training backend it resolves to (never "auto",
    :func:`training_backend`) and torch's version; on CUDA also the GPU's model
    and the precision flags runs keep to (:func:`flsim.train.exact_fp32`).
    Results are the same bits on any CPU thread count, not between a CPU and a
    GPU, nor between two GPU models.
    """
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
        check_device(config.device)  # a key names the GPU: ConfigError here where there is none
    settings["backend"] = training_backend(config)
    settings["torch"] = torch.__version__
    settings["numpy"] = numpy.__version__  # its generators draw the split, the choice of clients, the noise
    settings["scikit-learn"] = _version("scikit-learn")  # FLAME's clustering (HDBSCAN)
    if kind == "cuda":  # on a GPU, its model and the precision flags flsim runs under (train.exact_fp32)
        settings["gpu"] = torch.cuda.get_device_name()
        settings["precision"] = "fp32, TF32 off, cuDNN deterministic"
    return settings


def training_backend(config: Config) -> str:
    """The training backend ``config``'s runs use here (:func:`flsim.train.backend_name`), never "auto": it
    depends on the device "auto" finds and on whether the model keeps floating-point buffers."""
    shape, classes = DATASET_SHAPES[config.dataset]
    buffers = models.builds_float_buffers(models.MODELS.entry(config.model), shape, classes)
    return backend_name(device_kind(config.device), buffers=buffers)


def unread_options(config: Config) -> set[str]:
    """The plug-ins' options that none of ``config``'s plug-ins reads: the fields the registered rules and
    attack steps declare (``options``), less those of its rule and of the steps that apply to it. Empty
    where one of its plug-ins does not declare what it reads."""
    chosen = [AGGREGATORS.entry(config.aggregator), *steps_for(config).values()]
    if any(spec.options is None for spec in chosen):
        return set()
    declared = {option for spec in [*AGGREGATORS.values(), *STEPS.values()] for option in spec.options or ()}
    return declared - {option for spec in chosen for option in spec.options}


def source_hash() -> str:
    """A hash of the source of the modules (and packages) a simulation runs through (``SIMULATION_MODULES``)."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for name in SIMULATION_MODULES:
        package = root / name
        for path in sorted(package.glob("*.py")) if package.is_dir() else [root / f"{name}.py"]:
            digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
