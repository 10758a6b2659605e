import subprocess
import sys

import pandas as pd
import pytest

import flsim
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


@pytest.mark.parametrize("args, words", [
    (["lr=inf"], ["lr", "finite"]),
    (["noise_sigma=nan", "aggregator=norm_clip"], ["noise_sigma", "finite"]),
    (["attack_scale=inf"], ["attack_scale", "finite"]),
    (["dirichlet_alpha=inf"], ["dirichlet_alpha", "finite"]),
    (["seed=-1"], ["seed", ">= 0"]),
    (["seed=1.5"], ["seed", "integer"]),
    (["num_client=3"], ["num_client", "did you mean 'num_clients'"]),
    (["dataset=fashion"], ["dataset", "fashion_mnist"]),
    (["dataset=mnist"], ["attack='semantic'", "dataset='mnist'", "attack='trigger'"]),
    (["eval_samples=20000"], ["eval_samples", "10000"]),
    (["samples_per_client=100000"], ["samples_per_client", "None"]),
    (["clients_per_round=0"], ["clients_per_round", ">= 1"]),
    (["record=all"], ["record", "'clients'"]),
    (["device=cuda"], ["device='cuda'", "no CUDA device"]),
])
def test_bad_values_exit_2_naming_the_field(args, words, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1  # one line, no traceback
    for word in words:
        assert word in err


def test_out_pointing_at_a_file_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    target = tmp_path / "results.csv"
    target.write_text("mine")
    monkeypatch.setattr("flsim.cli.run", lambda *a, **k: pytest.fail("ran before refusing --out"))
    assert main(["run", "--out", str(target)]) == 2
    assert "results.csv exists and is not a directory" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_version_and_help_show_what_users_look_for(capsys):
    import flsim

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"flsim {flsim.__version__}"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "malicious_data_rate=10: r: each attacker poisons positions 0, m*r" in out
    assert "samples_per_client=300: training images per client" in out


MODULE = '''
import flsim
from torch import nn


def tiny_mlp(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 16), nn.ReLU(), nn.Linear(16, num_classes))


flsim.register_model("cli_tiny_mlp", tiny_mlp, version="1")
'''


def test_import_registers_a_users_model_for_the_run(tmp_path, monkeypatch, capsys):
    before = dict(flsim.registry.REGISTRIES["model"])
    (tmp_path / "my_models.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])  # as an installed flsim script
    try:
        assert main(["run", *TINY_ARGS, "model=cli_tiny_mlp", "--import", "my_models", "--out", "out"]) == 0
        assert pd.read_parquet(tmp_path / "out" / "output_bias.parquet")["class"].nunique() == 10
        assert '"model": "cli_tiny_mlp"' in (tmp_path / "out" / "config.json").read_text()
    finally:
        flsim.registry.REGISTRIES["model"].clear()
        flsim.registry.REGISTRIES["model"].update(before)
        sys.modules.pop("my_models", None)


def test_an_unimportable_module_and_an_unregistered_model_are_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--import", "no_such_module_here"]) == 2
    assert "--import no_such_module_here: ModuleNotFoundError" in capsys.readouterr().err
    (tmp_path / "broken.py").write_text("raise RuntimeError('my bug')\n")
    assert main(["run", "--import", "broken"]) == 2
    assert "--import broken: RuntimeError: my bug" in capsys.readouterr().err
    assert main(["run", "model=cli_unregistered"]) == 2
    assert "cli_unregistered" in capsys.readouterr().err
