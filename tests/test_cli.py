import subprocess
import sys

import pandas as pd

from flsim.cli import main
from tests.conftest import TINY

TINY_ARGS = [f"{k}={v}" for k, v in TINY.items()]


def test_run_prints_the_round_table_and_saves(tmp_path, capsys):
    assert main(["run", *TINY_ARGS, "attack=trigger", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "main_accuracy" in out and "backdoor_accuracy" in out
    assert len(pd.read_parquet(tmp_path / "out" / "rounds.parquet")) == 3
    assert '"attack": "trigger"' in (tmp_path / "out" / "config.json").read_text()


def test_bad_input_exits_with_a_clear_message(capsys):
    assert main(["run", "num_clients=abc"]) == 2
    assert "num_clients expects an integer, got 'abc'" in capsys.readouterr().err
    assert main(["run", "colour=red"]) == 2
    assert "unknown parameter 'colour'" in capsys.readouterr().err
    assert main(["run", "num_malicious"]) == 2
    assert "expected key=value" in capsys.readouterr().err


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "flsim", "run", "dataset=svhn"], capture_output=True, text=True)
    assert done.returncode == 2 and "dataset='svhn' is not allowed" in done.stderr
