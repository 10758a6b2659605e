"""Command line: ``python -m flsim run key=value ... [--out DIR]``."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from .config import Config, ConfigError
from .data import DatasetNotFoundError
from .experiment import run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flsim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run one experiment and print its per-round table")
    run_cmd.add_argument("settings", nargs="*", metavar="key=value",
                         help="Config fields, e.g. num_clients=20 attack=trigger")
    run_cmd.add_argument("--paper", action="store_true", help="start from Config.paper() (CIFAR-10)")
    run_cmd.add_argument("--out", metavar="DIR", help="save the results (Parquet + config.json) here")
    run_cmd.add_argument("--no-cache", action="store_true", help="recompute even if cached")
    return parser


def _pairs(settings: list[str]) -> dict[str, str]:
    pairs = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"expected key=value, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = Config.from_strings(_pairs(args.settings), base=Config.paper() if args.paper else Config())
        results = run(config, cache=not args.no_cache, progress=True)
    except (ConfigError, DatasetNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 120, "display.max_rows", None, "display.precision", 4):
        print(results.rounds.to_string(index=False))
    if args.out:
        print(f"saved to {results.save(args.out)}")
    return 0
