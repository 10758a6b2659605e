"""The result cache: one saved :class:`~flsim.results.Results` per config and version of flsim's code.

An entry is keyed by what identifies a run (:mod:`flsim.identity`): its config's key
(:func:`~flsim.identity.config_key`, a hash of the settings that change results) and a hash of the
source a simulation runs through (:func:`~flsim.identity.source_hash`).
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
import os
import stat
import time
import warnings
from pathlib import Path

import platformdirs

from . import atomic
from .config import Config
# what names an entry; the others are flsim.cache's names from before flsim.identity (the book's workflow
# reads flsim.cache.source_hash)
from .identity import SIMULATION_MODULES, config_key, key_settings, source_hash, unread_options  # noqa: F401
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


def cache_path(config: Config) -> Path:
    return cache_dir() / f"{config_key(config)}-{source_hash()}"


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
        if config_key(results.config) != config_key(config):
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
