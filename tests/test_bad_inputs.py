"""Every bad input is named (the parameter, the value, what is allowed) before any compute,
or works where refusing would be wrong. The README's table of bad inputs lists the same cases."""

import sys

import numpy as np
import pytest

import flsim
from flsim import ConfigError, notebook
from flsim.cli import main
from flsim.config import Config
from flsim.localisation import substitution
from flsim.semantic import semantic_family
from tests.conftest import TINY


@pytest.fixture
def no_compute(monkeypatch):
    """Pre-training, the first compute of any run, fails the test: a refusal must come before it."""
    monkeypatch.setattr("flsim.federation.pretrain", lambda *a, **k: pytest.fail("computed before refusing"))


def raises(call, *words, error=ConfigError):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value), str(caught.value)


# --- meaningless combinations -------------------------------------------------------------------------

def test_a_target_that_is_the_backdoors_own_class(no_compute):
    raises(lambda: flsim.setup(Config(**TINY, target_class=0)),  # the striped T-shirts are T-shirts
           "target_class=0", "T-shirt/top", "true class of 20 of the 20 images", "striped_tshirts")
    raises(lambda: flsim.run(Config(**TINY, semantic_indices=(26, 63), target_class=5), cache=False),
           "target_class=5", "1 of the 2 images of semantic_indices")  # 63 is a sandal


def test_excluded_images_that_leave_too_few_for_the_clients():
    raises(lambda: Config(num_clients=10, samples_per_client=50, excluded_indices=tuple(range(59_950))),
           "samples_per_client=50", "excluded_indices (59950 images)", "leave 50", "4 each")


def test_a_trigger_split_among_fewer_attackers_than_parts():
    raises(lambda: Config(attack="trigger", trigger_parts=2, num_malicious=1),
           "trigger_parts=2", "num_malicious >= 2", "num_malicious=1")
    assert Config(attack="trigger", trigger_parts=2, num_malicious=2).trigger_parts == 2


def test_diverging_training_stops_naming_lr_and_the_round():
    raises(lambda: flsim.run(Config(**TINY, lr=1e6), cache=False),
           "training diverged", "lr=1000000.0", "round 0")


def test_a_round_that_cannot_fit_in_memory_says_which_setting_to_change(no_compute, monkeypatch):
    monkeypatch.setattr("flsim.data.load", lambda *a, **k: pytest.fail("loaded data before refusing"))
    raises(lambda: flsim.setup(Config(num_clients=59_000, samples_per_client=1)),
           "59000 clients", "record='rounds'", "clients_per_round", "GiB")


# --- the public entry points' arguments ---------------------------------------------------------------

@pytest.mark.parametrize("value", [dict(TINY), None, "fashion_mnist"])
def test_run_setup_and_simulate_take_a_config(value):
    for call, name in ((flsim.run, "flsim.run"), (flsim.setup, "flsim.setup"), (flsim.simulate, "flsim.simulate")):
        raises(lambda: call(value), f"{name} takes a flsim.Config", type(value).__name__)


def test_panel_takes_a_list_of_configs():
    assert flsim.panel([]) == [] and flsim.sweep([]) == []  # no runs, no results, as map() gives
    raises(lambda: flsim.panel(["x"]), "flsim.panel takes a list of flsim.Config", "item 0 is str")
    raises(lambda: flsim.panel_configs(Config(**TINY), dict(attack="trigger")), "list of dicts")
    raises(lambda: flsim.panel_configs(Config(**TINY), [dict(lr=0.1)]), "variant 0 sets lr")


@pytest.mark.parametrize("kwargs, words", [
    (dict(configs=Config()), ["flsim.sweep takes a list of flsim.Config", "pass [config]"]),
    (dict(configs=[Config(), 3]), ["item 1 is int"]),
    (dict(workers=0), ["workers=0 is not allowed", ">= 1"]),
    (dict(workers=-1), ["workers=-1"]),
    (dict(workers="2"), ["workers='2'"]),
    (dict(workers=True), ["workers=True"]),
    (dict(scheduler="not a url"), ["scheduler='not a url' is not a Dask scheduler address", "tcp://host:8786"]),
    (dict(scheduler=8786), ["scheduler must be", "got int"]),
])
def test_sweep_names_its_bad_arguments(kwargs, words, monkeypatch):
    monkeypatch.setattr(sys.modules["flsim.sweep"], "load_cached", lambda c: pytest.fail("looked in the cache"))
    arguments = dict(configs=[Config(**TINY)]) | kwargs
    raises(lambda: flsim.sweep(**arguments), *words)


def test_a_scheduler_in_the_environment_is_checked_too(monkeypatch):
    monkeypatch.setenv("FLSIM_SCHEDULER", "not a url")
    monkeypatch.setattr(sys.modules["flsim.sweep"], "load_cached", lambda c: None)
    raises(lambda: flsim.sweep([Config(**TINY)]), "$FLSIM_SCHEDULER='not a url'")


@pytest.mark.parametrize("kwargs, words", [
    (dict(target_class=99), ["target_class=99 is not allowed", "from 0 to 9"]),
    (dict(size=2.5), ["size must be an integer", "2.5"]),
    (dict(size=True), ["size must be an integer", "True"]),
    (dict(size=0), ["size=0 is not allowed", ">= 1"]),
    (dict(seed=-1), ["seed=-1 is not allowed", ">= 0"]),
    (dict(source_class="0"), ["source_class must be an integer"]),
    (dict(dataset="fashion"), ["dataset='fashion' is not allowed", "fashion_mnist"]),
    (dict(dataset=None), ["dataset must be a dataset's name"]),
    (dict(rule="ink"), ["rule='ink' is not allowed", "least_ink"]),
])
def test_semantic_family_names_its_bad_arguments(kwargs, words, monkeypatch):
    monkeypatch.setattr("flsim.semantic.data.load", lambda *a, **k: pytest.fail("loaded data before checking"))
    arguments = dict(dataset="fashion_mnist", rule="random", source_class=0) | kwargs
    raises(lambda: semantic_family(**arguments), *words)


@pytest.mark.parametrize("config, threshold, words", [
    (Config(**TINY, num_malicious=0), 0.9, ["round 1 of this config has none", "num_malicious=0"]),
    (Config(**TINY, attack_schedule="single_shot", attack_round=2), 0.9, ["has none", "'single_shot'"]),
    (Config(**TINY), "0.9", ["threshold must be a number", "'0.9'"]),
    (Config(**TINY), True, ["threshold must be a number"]),
    (Config(**TINY), 1.5, ["threshold must be between 0 (excluded) and 1", "1.5"]),
    ({"num_clients": 4}, 0.9, ["substitution takes a flsim.Config", "dict"]),
])
def test_substitution_names_its_bad_arguments(config, threshold, words, no_compute):
    raises(lambda: substitution(config, threshold), *words)


def test_a_cuda_key_without_a_gpu_is_named(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    raises(lambda: Config(device="cuda").key(), "device='cuda'", "no CUDA device")
    raises(lambda: flsim.run(Config(**TINY, device="cuda")), "device='cuda'", "no CUDA device")


# --- types and their relatives --------------------------------------------------------------------------

@pytest.mark.parametrize("changes, words", [
    (dict(num_clients="10"), ["num_clients must be int", "'10'"]),
    (dict(num_clients=10.0), ["num_clients must be int", "10.0"]),
    (dict(lr=True), ["lr must be float", "True"]),
    (dict(semantic_indices=()), ["semantic_indices must name at least one training image"]),
    (dict(semantic_indices=(1.5,)), ["semantic_indices must be integers"]),
])
def test_config_types_are_named(changes, words):
    raises(lambda: Config(**changes), *words)


def test_numpys_numbers_are_the_numbers_they_hold():
    config = Config(num_clients=np.int64(10), lr=np.float64(0.01), semantic_indices=(np.int64(26), 11744))
    assert config == Config(num_clients=10, lr=0.01, semantic_indices=(26, 11744))
    assert type(config.num_clients) is int and config.key() == Config(num_clients=10, lr=0.01,
                                                                      semantic_indices=(26, 11744)).key()


# --- the command line --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["semantic_indices="], ["semantic_indices= gives no value", "1,5,9, or none"]),
    (["clients_per_round="], ["clients_per_round= gives no value", "or none"]),
    (["semantic_indices=()"], ["semantic_indices must name at least one training image, got ()"]),
    (["semantic_indices=1,,2"], ["semantic_indices expects integers separated by commas"]),
    (["num_clients=10", "num_clients=20"], ["num_clients is given twice", "num_clients=10 and num_clients=20"]),
])
def test_the_command_line_names_what_python_would_refuse(args, words, capsys, monkeypatch):
    monkeypatch.setattr("flsim.cli.run", lambda *a, **k: pytest.fail("ran before refusing"))
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    for word in words:
        assert word in err, err


def test_the_command_line_reads_numbers_as_python_does():
    """num_clients=4_0 is 40, as in Python (1_000 is the readable thousand); none is None."""
    config = Config.from_strings({"num_clients": "4_0", "samples_per_client": "1_000", "clients_per_round": "none",
                                  "semantic_indices": "26,11744,"})
    assert (config.num_clients, config.samples_per_client, config.clients_per_round) == (40, 1000, None)
    assert config.semantic_indices == (26, 11744)


# --- the chapters' parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["abc", True, 2.5, [1, 2]])
def test_a_chapter_parameter_with_a_none_default_takes_what_its_config_field_takes(value):
    defaults = dict(paper_samples_per_client=None, anything=None)
    with pytest.raises(notebook.ParameterError, match="paper_samples_per_client=.* should be like Config's "
                                                      "samples_per_client: an integer or None"):
        notebook.validate(defaults, dict(paper_samples_per_client=value))
    assert notebook.validate(defaults, dict(paper_samples_per_client=2.0, anything=[1])) == dict(
        paper_samples_per_client=2, anything=[1])  # a whole number, made an int; no field, any value
