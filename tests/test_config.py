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
    # non-finite floats, for every float field
    (dict(lr=float("inf")), ["lr", "finite"]),
    (dict(lr=float("nan")), ["lr", "finite"]),
    (dict(noise_sigma=float("nan"), aggregator="norm_clip"), ["noise_sigma", "finite"]),
    (dict(attack_scale=float("inf")), ["attack_scale", "finite"]),
    (dict(dirichlet_alpha=float("inf"), partition="dirichlet"), ["dirichlet_alpha", "finite"]),
    (dict(server_share=float("nan")), ["server_share", "finite"]),
    (dict(trim_fraction=float("-inf")), ["trim_fraction", "finite"]),
    (dict(clip_norm=float("inf")), ["clip_norm", "finite"]),
    (dict(filter_z=float("nan")), ["filter_z", "finite"]),
    (dict(attack_norm_bound=float("inf")), ["attack_norm_bound", "finite"]),
    # integer ranges
    (dict(seed=-1), ["seed", ">= 0"]),
    (dict(num_rounds=0), ["num_rounds", ">= 1"]),
    (dict(local_epochs=0), ["local_epochs", ">= 1"]),
    (dict(batch_size=0), ["batch_size", ">= 1"]),
    (dict(num_malicious=-1), ["num_malicious", ">= 0"]),
    (dict(krum_f=-1), ["krum_f", ">= 0"]),
    (dict(eval_samples=0), ["eval_samples", ">= 1"]),
    (dict(attack_round=0), ["attack_round", ">= 1"]),
    (dict(rlr_threshold=0), ["rlr_threshold", ">= 1"]),
    # sizes bounded by the dataset
    (dict(samples_per_client=6000), ["samples_per_client", "5455", "None"]),
    (dict(eval_samples=10001), ["eval_samples", "10000 test images", "None"]),
    (dict(num_clients=60000, attack="none"), ["num_clients", "60000 training images"]),
    (dict(dataset="cifar10", attack="trigger", samples_per_client=4547), ["samples_per_client", "4546"]),
    # values of other kinds and combinations
    (dict(dirichlet_alpha=0.0), ["dirichlet_alpha", "> 0"]),
    (dict(trim_fraction=0.5), ["trim_fraction", "[0, 0.5)"]),
    (dict(clip_norm=0.0), ["clip_norm", "> 0"]),
    (dict(attack_scale=0.0), ["attack_scale", "> 0"]),
    (dict(aggregator="krum", krum_f=4), ["aggregator='krum'", "krum_f"]),
    (dict(aggregator="rlr", rlr_threshold=11), ["rlr_threshold", "clients per round"]),
    (dict(attack_schedule="single_shot", attack_round=11), ["attack_round", "num_rounds=10"]),
    (dict(trigger_parts=2), ["trigger_parts", "attack='trigger'"]),
    (dict(trigger_parts=3, attack="trigger"), ["trigger_parts", "1, 2, 4"]),
    (dict(device="gpu"), ["device", "'cuda'", "'auto'"]),
    (dict(aggregator="fedavgg"), ["aggregator", "did you mean 'fedavg'"]),
    (dict(dataset="fashion"), ["dataset", "fashion_mnist"]),
    (dict(adaptive="bias"), ["adaptive", "output_bias"]),
    (dict(lr=True), ["lr", "float"]),
    (dict(data_dir=3), ["data_dir", "str"]),
])
def test_bad_values_name_the_parameter_and_the_allowed_values(changes, words):
    with pytest.raises(ConfigError) as error:
        Config(**changes)
    for word in words:
        assert word in str(error.value)


def test_from_strings_parses_types_and_rejects_bad_input():
    config = Config.from_strings({"num_clients": "20", "lr": "0.05", "clients_per_round": "none", "attack": "trigger"})
    assert (config.num_clients, config.lr, config.clients_per_round, config.attack) == (20, 0.05, None, "trigger")
    with pytest.raises(ConfigError, match="unknown parameter 'num_client'; did you mean 'num_clients'"):
        Config.from_strings({"num_client": "3"})
    with pytest.raises(ConfigError, match="num_clients expects an integer, got 'abc'"):
        Config.from_strings({"num_clients": "abc"})
    with pytest.raises(ConfigError, match="lr expects a number"):
        Config.from_strings({"lr": "fast"})
    with pytest.raises(ConfigError, match="num_rounds expects an integer, got '2.5'"):
        Config.from_strings({"num_rounds": "2.5"})


@pytest.mark.parametrize("spelling, name", [
    ("fashion-mnist", "fashion_mnist"), ("FashionMNIST", "fashion_mnist"), ("Fashion_MNIST", "fashion_mnist"),
    ("cifar-10", "cifar10"), ("CIFAR10", "cifar10"), ("MNIST", "mnist"),
])
def test_dataset_aliases(spelling, name):
    assert Config(dataset=spelling, attack="trigger").dataset == name


def test_a_semantic_attack_on_a_dataset_without_semantic_sets_names_the_fix():
    with pytest.raises(ConfigError, match="dataset='mnist' has none: give semantic_indices, or use attack='trigger'"):
        Config(dataset="mnist")
    assert Config(dataset="mnist", attack="trigger").dataset == "mnist"


def test_data_dir_takes_a_path(tmp_path):
    assert Config(data_dir=tmp_path).data_dir == str(tmp_path)
    assert Config(data_dir=tmp_path).key() == Config().key()


def test_unknown_fields_suggest_the_closest():
    with pytest.raises(ConfigError, match="unknown parameter 'num_client'; did you mean 'num_clients'"):
        Config().replace(num_client=3)
    with pytest.raises(ConfigError, match="unknown parameter 'colour'; Config's fields: dataset"):
        Config.from_strings({"colour": "red"})


def test_every_field_is_documented_where_users_look():
    import dataclasses

    for field in dataclasses.fields(Config):
        assert field.metadata["doc"], field.name
        assert f"    {field.name}\n        {field.metadata['doc']}" in Config.__doc__


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
