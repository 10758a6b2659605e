"""Command line: ``flsim run key=value ... [--out DIR] [--import MODULE]`` (or ``python -m flsim run ...``)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import textwrap

import pandas as pd

from . import __version__
from .cache import UnsafeCacheError
from .config import Config, ConfigError
from .data import DatasetNotFoundError
from .experiment import run
from .federation import check_device
from .results import DestinationError, check_destination


def _fields_help() -> str:
    """Every Config field with its default and meaning, for ``flsim run --help``."""
    lines = ["Config fields (key=value):"]
    for field in dataclasses.fields(Config):
        text = f"{field.name}={field.default}: {field.metadata['doc']}"
        lines += textwrap.wrap(text, 100, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flsim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"flsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="run one experiment and print its per-round table",
                                  formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_fields_help())
    run_cmd.add_argument("settings", nargs="*", metavar="key=value",
                         help="Config fields, e.g. num_clients=20 attack=trigger (listed below)")
    run_cmd.add_argument("--paper", action="store_true", help="start from Config.paper() (CIFAR-10)")
    run_cmd.add_argument("--out", metavar="DIR", help="save the results (Parquet + config.json) in this new or "
                         "empty directory, or replace an earlier flsim result there")
    run_cmd.add_argument("--no-cache", action="store_true", help="recompute even if cached")
    run_cmd.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                         help="import this module first (from the current directory, too), so that model= and "
                         "aggregator= can name what it registers with flsim.register_model or "
                         "flsim.register_aggregator; may be repeated")
    return parser


class ImportFailed(Exception):
    """A module named by --import could not be imported."""


def _import_registrations(modules: list[str]) -> None:
    """Imports the user's modules, which register models and rules as they load."""
    if modules and "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the current directory, as ``python -m`` has it
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:  # the user's code: any error it raises, named
            raise ImportFailed(f"--import {module}: {type(error).__name__}: {error}") from error


def _pairs(settings: list[str]) -> dict[str, str]:
    """``key=value`` arguments by key; a key given twice is refused (which one was meant?)."""
    pairs = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"expected key=value, got {item!r}")
        key = key.strip()
        if key in pairs:
            raise ConfigError(f"{key} is given twice ({key}={pairs[key]} and {key}={value.strip()}); give it once")
        pairs[key] = value.strip()
    return pairs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _import_registrations(args.imports)
        config = Config.from_strings(_pairs(args.settings), base=Config.paper() if args.paper else Config())
        check_device(config.device)
        if args.out is not None:
            check_destination(args.out)  # before the run, not after it
        results = run(config, cache=not args.no_cache, progress=True)
        if args.out is not None:
            saved = results.save(args.out)
    except (ConfigError, DatasetNotFoundError, DestinationError, ImportFailed, UnsafeCacheError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with pd.option_context("display.width", 120, "display.max_rows", None, "display.precision", 4):
        print(results.rounds.to_string(index=False))
    if args.out is not None:
        print(f"saved to {saved}")
    return 0
