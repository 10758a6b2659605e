"""An experiment's results as tidy tables, saved as Parquet beside a config.json that checks them.

Saving never destroys what flsim did not write: a directory is written only
if it is new, empty, or an earlier flsim result that flsim demonstrably wrote
(its config.json names flsim's version and source hash, every file it records
matches its checksum, and nothing else is there); symbolic links, a file in the
path and unwritable parents are refused too, all before a run
(:func:`check_destination`). A reader never sees a half-written result, and a
replacement swaps the old result for the new one in one rename
(:mod:`flsim.atomic`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, atomic
from .config import DATASET_SHAPES, Config
from .identity import source_hash
from .layout import load_flat
from .models import MODELS

TABLES = ("rounds", "updates", "output_bias", "detection", "defence")  # every run's, in this order
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "final_weights.npy"
READ_ATTEMPTS = 5  # reads of a result that is replaced while it is read, before giving up
FILES = frozenset({CONFIG_FILE, WEIGHTS_FILE, *(f"{name}.parquet" for name in TABLES)})  # what any result holds


class ResultsError(ValueError):
    """A results directory is damaged, or holds another config than the one asked for."""


class DestinationError(FileExistsError):
    """A results directory cannot be written without touching files flsim did not write."""


@dataclass(init=False)
class Results:
    """What :func:`flsim.run` returns: the config and its tables by name, ``results.tables[name]`` or
    ``results.name``.

    Every run has these tables (``flsim.results.TABLES``):

    ``rounds``: round, main_accuracy, main_loss, backdoor_accuracy, backdoor_loss, seconds
    (round 0 is the server's pre-trained model).
    ``updates``: round, client, malicious, layer, max_abs_deviation, l2_deviation, cosine_to_mean
    (and max_abs_from_median with ``config.record == "clients+median"``).
    ``output_bias``: round, client, malicious, class, deviation.
    ``detection``: round, client, malicious, detector, score (one row per detector of
    :data:`flsim.detectors.DETECTORS`; higher scores are more suspicious).
    ``defence``: round, client, malicious, accepted (whether ``config.aggregator`` let the
    client's update in; missing for rules that decide nothing per client).

    ``malicious`` marks the clients that attack in that round. With ``config.record == "rounds"``
    only ``rounds`` is filled; the per-client tables are empty. A table of another name is
    saved, checksummed and loaded with these.

    ``output_layer``: the model's output layer (``"fc2"`` for the paper's CNN), whose bias
    (:attr:`output_bias_tensor`) is the paper's tensor. ``final_weights``: the global model
    after the last round, as one flat float32 vector (:meth:`model` builds it).
    """

    config: Config
    tables: dict[str, pd.DataFrame]
    output_layer: str
    final_weights: np.ndarray | None = field(repr=False)

    def __init__(self, config: Config, tables: Mapping[str, pd.DataFrame] | pd.DataFrame | None = None,
                 *by_position: pd.DataFrame, output_layer: str = "fc2", final_weights: np.ndarray | None = None,
                 **by_name: pd.DataFrame):
        if isinstance(tables, pd.DataFrame):  # the tables by position, as flsim 0.1 took them
            warnings.warn("Results(config, rounds, updates, ...) is deprecated: pass the tables by name, "
                          "Results(config, {'rounds': rounds, 'updates': updates, ...})", DeprecationWarning,
                          stacklevel=2)
            tables = dict(zip(TABLES, (tables, *by_position)))
        elif by_position:
            raise TypeError("Results takes its tables as one mapping: Results(config, {name: table, ...})")
        given = {**(tables or {}), **by_name}
        self.config, self.output_layer, self.final_weights = config, output_layer, final_weights
        # every run's tables first and always there (empty where a run records none), then any others
        self.tables = {name: given.pop(name, None) for name in TABLES}
        self.tables = {name: pd.DataFrame() if table is None else table for name, table in self.tables.items()}
        self.tables |= given

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(f"Results has no attribute or table {name!r}; its tables: {', '.join(tables)}")

    def __setattr__(self, name: str, value) -> None:
        if name in self.__dict__.get("tables", {}):
            self.tables[name] = value  # results.defence = ... replaces the table
        else:
            super().__setattr__(name, value)

    @property
    def output_bias_tensor(self) -> str:
        """The name of the output layer's bias in the ``layer`` column of ``updates``, e.g. ``"fc2.bias"``."""
        return f"{self.output_layer}.bias"

    @property
    def output_weight_tensor(self) -> str:
        return f"{self.output_layer}.weight"

    def model(self):
        """The final global model, a new ``torch.nn.Module`` in eval mode, on the CPU.

        Its architecture is ``config.model``, which must be registered in this process.
        """
        if self.final_weights is None:
            raise ValueError("these results hold no final weights (saved by an older flsim): run the config again")
        shape, classes = DATASET_SHAPES[self.config.dataset]
        return load_flat(MODELS.entry(self.config.model).build(shape, classes), self.final_weights).eval()

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the tables and ``config.json`` (the config, flsim's version and source hash, and a
        checksum of every table) to ``directory``, all at once or not at all.

        ``directory`` may be new, empty, or an earlier flsim result, unchanged, which is replaced in
        one step (:mod:`flsim.atomic`); anything else raises :class:`DestinationError` before a file is
        written (:func:`check_destination` says what is refused).
        """
        check_destination(directory)
        directory = Path(directory)
        with atomic.staging(directory) as staging:
            self._write(staging)
            check_destination(directory)  # again, just before it is replaced: it may have changed meanwhile
            atomic.publish(staging, directory, replace=True)
        return directory

    def _write(self, directory: Path) -> None:
        checksums = {}
        for name, table in self.tables.items():
            path = directory / f"{name}.parquet"
            table.to_parquet(path, index=False)
            checksums[path.name] = _sha256(path)
        if self.final_weights is not None:
            np.save(directory / WEIGHTS_FILE, np.asarray(self.final_weights), allow_pickle=False)
            checksums[WEIGHTS_FILE] = _sha256(directory / WEIGHTS_FILE)
        record = dict(flsim_version=__version__, source_hash=source_hash(), config=self.config.to_dict(),
                      output_layer=self.output_layer, checksums=checksums)
        (directory / CONFIG_FILE).write_text(json.dumps(record, indent=2))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "Results":
        """Read a saved result; :class:`ResultsError` if a table does not match its checksum.

        A result replaced while it is read (:meth:`save` swaps the whole folder) is read again, so the
        config and the tables returned are always those of one result."""
        directory = Path(directory)
        for attempt in range(READ_ATTEMPTS):
            before = _identity(directory)
            try:
                results = cls._read(directory)
            except (OSError, ValueError):
                if attempt + 1 == READ_ATTEMPTS or _identity(directory) == before:
                    raise
                continue  # replaced mid-read: a file of the old one gone, or old and new files mixed
            if _identity(directory) == before:
                return results
        raise ResultsError(f"{directory} was replaced while it was read, {READ_ATTEMPTS} reads in a row; read it "
                           "again when its writer is done")

    @classmethod
    def _read(cls, directory: Path) -> "Results":
        if not directory.exists():
            atomic.clean_abandoned(directory.parent)  # a replacement killed mid-way: put the old result back
        record = json.loads((directory / CONFIG_FILE).read_text())
        settings = record.get("config", record)  # results saved before config.json recorded checksums: the config
        for name, checksum in record.get("checksums", {}).items():
            if _sha256(directory / name) != checksum:
                raise ResultsError(f"{directory / name} does not match the checksum in {directory / CONFIG_FILE}: "
                                   "the file was changed or damaged after it was saved")
        tables = {name: pd.read_parquet(directory / f"{name}.parquet") for name in _table_names(record)}
        weights = directory / WEIGHTS_FILE
        final = np.load(weights, allow_pickle=False) if weights.exists() else None
        return cls(Config(**settings), tables, output_layer=record.get("output_layer", "fc2"), final_weights=final)


def check_destination(directory: str | os.PathLike) -> None:
    """Raise :class:`DestinationError` unless ``directory`` can take a result without losing a file
    flsim did not write: it must be new, empty, or an earlier flsim result, unchanged since flsim wrote
    it (its ``config.json`` with flsim's version and source hash, every file it records matching its
    checksum, and nothing else); no symbolic link, no file in the path, a parent flsim can write in."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"the results directory must be a path (str or os.PathLike), got {directory!r}")
    directory = Path(directory)
    if directory.is_symlink():
        raise DestinationError(f"{directory} is a symbolic link (to {os.readlink(directory)}); flsim writes a "
                               "directory of its own and never through a link: give the directory itself or a "
                               "new path")
    _check_parents(directory)
    if not directory.exists():
        return
    if not directory.is_dir():
        raise DestinationError(f"{directory} exists and is not a directory; results go into a directory: "
                               "choose a new path")
    if Path.cwd().resolve().is_relative_to(directory.resolve()):
        raise DestinationError(f"{directory} is the working directory (or holds it); save into a new "
                               "subdirectory instead, e.g. results/run1")
    try:
        entries = {entry.name: entry for entry in directory.iterdir()}
    except OSError as error:
        raise DestinationError(f"{directory} cannot be read ({error.strerror}); choose another directory") from None
    if not entries:
        return
    record, why = _flsim_record(directory / CONFIG_FILE)
    known = {CONFIG_FILE, *record["checksums"]} if record else FILES
    foreign = sorted(set(entries) - known)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        mine = "" if record else f" and no {CONFIG_FILE} that flsim wrote ({why})"
        raise DestinationError(f"{directory} holds files flsim did not write ({shown}){mine}; flsim replaces only "
                               "an earlier flsim result: choose a new or empty directory")
    if record is None:
        raise DestinationError(f"{directory} holds no {CONFIG_FILE} that flsim wrote ({why}), so it is no flsim "
                               "result; choose a new or empty directory")
    for name, checksum in record["checksums"].items():
        entry = entries.get(name)
        found = ("missing" if entry is None else "not a plain file" if entry.is_symlink() or not entry.is_file()
                 else None if _sha256(entry) == checksum else "changed since flsim wrote it")
        if found:
            raise DestinationError(f"{directory} is no longer the result flsim wrote: {name}, recorded in its "
                                   f"{CONFIG_FILE}, is {found}; flsim replaces only an unchanged result of its "
                                   "own: move it away or choose a new directory")


def _check_parents(directory: Path) -> None:
    """The path up to ``directory``: no file where a directory must be, and a writable place to make it."""
    absolute = Path(os.path.abspath(directory))
    for parent in absolute.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DestinationError(f"{parent} is a file, so {directory} cannot be made under it; choose "
                                       "another path")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise DestinationError(f"{parent} is not writable, so {directory} cannot be written there; "
                                       "choose another path")
            return
        if parent.is_symlink():
            raise DestinationError(f"{parent} is a broken symbolic link (to {os.readlink(parent)}), so "
                                   f"{directory} cannot be made under it; choose another path")


def _table_names(record: dict) -> list[str]:
    """The tables a config.json records (by their checksums), else those of every run."""
    names = [name.removesuffix(".parquet") for name in record.get("checksums", {}) if name.endswith(".parquet")]
    return names or list(TABLES)


def _flsim_record(path: Path) -> tuple[dict | None, str]:
    """The record of a config.json flsim wrote, or (None, what it is instead): a user's own config.json is
    never taken for flsim's. flsim's names its version, its source hash, the config and a checksum of
    each of its files (tables and weights, by their file names)."""
    try:
        if path.is_symlink() or not path.is_file():
            return None, "none there" if not path.exists() and not path.is_symlink() else "not a plain file"
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return None, f"not JSON: {type(error).__name__}"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    missing = [key for key in ("flsim_version", "source_hash") if not isinstance(record.get(key), str)]
    if missing:
        return None, f"no {' and no '.join(missing)}"
    checksums = record.get("checksums")
    if not isinstance(record.get("config"), dict) or not isinstance(checksums, dict) or not checksums:
        return None, "no config and checksums"
    ours = [name for name in checksums if isinstance(name, str) and isinstance(checksums[name], str)
            and (name == WEIGHTS_FILE or (name.endswith(".parquet") and "/" not in name and "\\" not in name
                                          and not name.startswith(".")))]
    if len(ours) != len(checksums):
        return None, "its checksums list files flsim does not write"
    return record, ""


def _identity(directory: Path) -> tuple[int, int] | None:
    """Which folder ``directory`` names now (device, inode); None where there is none."""
    try:
        info = os.stat(directory)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
