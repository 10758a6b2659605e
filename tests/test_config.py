import pytest

from flsim import Config, ConfigError


def test_defaults_and_paper_preset_are_valid():
    assert Config().dataset == "fashion_mnist"
    paper = Config.paper()
    assert (paper.dataset, paper.num_clients, paper.lr, paper.batch_size) == ("cifar10", 10, 0.01, 64)
    assert (paper.semantic_set, paper.target_class, paper.malicious_data_rate) == ("racing_stripes", 2, 10)
    assert paper.samples_per_client is None and paper.num_chosen == 10


@pytest.mark.parametrize("changes, words", [
    (dict(dataset="imagenet"), ["dataset", "fashion_mnist", "cifar10"]),
    (dict(num_clients=0), ["num_clients", ">= 1"]),
    (dict(clients_per_round=11), ["clients_per_round", "num_clients=10"]),
    (dict(num_malicious=11), ["num_malicious", "num_clients=10"]),
    (dict(malicious_data_rate=0), ["malicious_data_rate", ">= 1"]),
    (dict(lr=0.0), ["lr", "> 0"]),
    (dict(lr=-1.0), ["lr", "> 0"]),
    (dict(dataset="mnist", attack="semantic"), ["semantic", "mnist", "cifar10"]),
    (dict(semantic_set="green_cars"), ["semantic_set", "striped_tshirts"]),
    (dict(target_class=10), ["target_class", "0 and 9"]),
    (dict(partition="pathological"), ["partition", "iid", "dirichlet"]),
    (dict(attack="dba"), ["attack", "none", "trigger"]),
    (dict(num_clients="10"), ["num_clients", "int"]),
    (dict(server_share=1.5), ["server_share", "between 0 and 1"]),
    (dict(record="updates"), ["record", "'clients'", "'rounds'"]),
    (dict(record="rounds", aggregator="median"), ["record='rounds'", "aggregator='median'", "record='clients'"]),
])
def test_bad_values_name_the_parameter_and_the_allowed_values(changes, words):
    with pytest.raises(ConfigError) as error:
        Config(**changes)
    for word in words:
        assert word in str(error.value)


def test_from_strings_parses_types_and_rejects_bad_input():
    config = Config.from_strings({"num_clients": "20", "lr": "0.05", "clients_per_round": "none", "attack": "trigger"})
    assert (config.num_clients, config.lr, config.clients_per_round, config.attack) == (20, 0.05, None, "trigger")
    with pytest.raises(ConfigError, match="unknown parameter 'num_client'.*num_clients"):
        Config.from_strings({"num_client": "3"})
    with pytest.raises(ConfigError, match="num_clients expects an integer, got 'abc'"):
        Config.from_strings({"num_clients": "abc"})
    with pytest.raises(ConfigError, match="lr expects a number"):
        Config.from_strings({"lr": "fast"})
    with pytest.raises(ConfigError, match="num_rounds expects an integer, got '2.5'"):
        Config.from_strings({"num_rounds": "2.5"})


def test_integer_lr_is_accepted_as_float():
    assert Config(lr=1).lr == 1.0 and isinstance(Config(lr=1).lr, float)


def test_key_depends_on_results_relevant_settings_only():
    assert Config().key() == Config().key()
    assert Config(seed=1).key() != Config().key()
    assert Config(data_dir="/elsewhere").key() == Config().key()
    # the paper's run names its semantic set; leaving it to the dataset's default is the same run
    assert Config.paper().key() == Config.paper(semantic_set=None).key()
    assert Config(semantic_set="striped_tshirts").key() == Config().key()


def test_attackers_is_zero_without_an_attack():
    assert Config(attack="none", num_malicious=3).attackers == 0
    assert Config(attack="trigger", num_malicious=3).attackers == 3
