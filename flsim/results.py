"""An experiment's results as tidy tables, saved as Parquet, cached by config and code."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import platformdirs

from .config import Config

TABLES = ("rounds", "updates", "output_bias", "detection", "defence")


@dataclass
class Results:
    """What :func:`flsim.run` returns.

    ``rounds``: round, main_accuracy, main_loss, backdoor_accuracy, backdoor_loss, seconds
    (round 0 is the server's pre-trained model).
    ``updates``: round, client, malicious, layer, max_abs_deviation, l2_deviation, cosine_to_mean.
    ``output_bias``: round, client, malicious, class, deviation.
    ``detection``: round, client, malicious, detector, score (one row per detector of
    :data:`flsim.detectors.DETECTORS`; higher scores are more suspicious).
    ``defence``: round, client, malicious, accepted (whether ``config.aggregator`` let the
    client's update in; missing for rules that decide nothing per client).

    ``malicious`` marks the clients that attack in that round. With ``config.record == "rounds"``
    only ``rounds`` is filled; the per-client tables are empty.
    """

    config: Config
    rounds: pd.DataFrame
    updates: pd.DataFrame
    output_bias: pd.DataFrame
    detection: pd.DataFrame = field(default_factory=pd.DataFrame)
    defence: pd.DataFrame = field(default_factory=pd.DataFrame)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the tables and config to ``directory``; a reader never sees a partial copy."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-"))
        try:
            for name in TABLES:
                getattr(self, name).to_parquet(staging / f"{name}.parquet", index=False)
            (staging / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
            if directory.exists():
                shutil.rmtree(directory)
            os.rename(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "Results":
        directory = Path(directory)
        config = Config(**json.loads((directory / "config.json").read_text()))
        tables = {name: pd.read_parquet(directory / f"{name}.parquet") for name in TABLES}
        return cls(config, **tables)


def cache_dir() -> Path:
    """Where results are cached: ``$FLSIM_CACHE``, else the user cache dir."""
    return Path(os.environ.get("FLSIM_CACHE") or Path(platformdirs.user_cache_dir("flsim")) / "results")


def source_hash() -> str:
    """A hash of flsim's source files: any code change gives new cache keys."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def cache_path(config: Config) -> Path:
    return cache_dir() / f"{config.key()}-{source_hash()}"


def load_cached(config: Config) -> Results | None:
    path = cache_path(config)
    return Results.load(path) if (path / "config.json").exists() else None
