"""flsim.analysis.federated_setup (chapter 2's tables and values), on small hand-made inputs with known answers."""

from types import SimpleNamespace

import pandas as pd
import pytest
import torch

import flsim
from flsim.analysis import federated_setup


def data(*labels):
    """(images, labels) of a party, one dummy image per label."""
    return torch.zeros(len(labels), 1), torch.tensor(labels)


def test_the_settings_in_words():
    values = federated_setup.federation_settings(flsim.Config(num_clients=4, num_malicious=1, local_epochs=2, lr=0.05))
    assert values["num_honest"] == 3 and values["epochs_text"] == "2 epochs" and values["lr"] == 0.05
    assert federated_setup.federation_settings(flsim.Config())["epochs_text"] == "one epoch"


def test_the_class_balance_says_whether_every_class_is_as_frequent():
    even = SimpleNamespace(classes=["a", "b"], num_classes=2, name="mnist",
                           train_y=torch.tensor([0, 1, 0, 1]), test_y=torch.tensor([1, 0]))
    table, values = federated_setup.class_balance(even)
    assert table.to_dict("index") == {"a": {"train": 2, "test": 1}, "b": {"train": 2, "test": 1}}
    assert values == dict(train_size=4, test_size=2, num_classes=2, dataset_name="MNIST",
                          class_balance="each class equally often")
    uneven = SimpleNamespace(**{**vars(even), "train_y": torch.tensor([0, 0, 0, 1]), "name": "mine"})
    _, values = federated_setup.class_balance(uneven)
    assert values["class_balance"] == "from 1 to 3 training images per class"
    assert values["dataset_name"] == "mine"  # a name flsim does not know stays as it is


def fake_federation(**changes):
    """Two clients, 3 rounds, one epoch: 12 training images, 3 of them the backdoor's."""
    fields = dict(config=SimpleNamespace(num_clients=2, num_rounds=3, local_epochs=1, dirichlet_alpha=0.5),
                  dataset=SimpleNamespace(train_y=torch.zeros(12), num_classes=2),
                  backdoor=SimpleNamespace(excluded=torch.tensor([0, 1, 2])),
                  server_data=data(0, 1), clean_data=[data(0, 0, 1), data(1, 1, 1, 0)],
                  test=data(0, 1, 0, 1, 0), backdoor_test=data(0, 0))
    return SimpleNamespace(**{**fields, **changes})


def test_party_sizes_and_what_the_two_runs_cost():
    table, values = federated_setup.party_sizes(fake_federation())
    # The pool of 12 - 3 images dealt over the server and two clients: 3 each.
    assert table.to_dict("index") == {"server": {"round-robin deal": 3, "used": 2},
                                      "client 0": {"round-robin deal": 3, "used": 3},
                                      "client 1": {"round-robin deal": 3, "used": 4}}
    # Per run 3 rounds x 7 client images + 2 server images = 23 sample-passes, two runs;
    # 4 evaluations of 5 test images in both runs and 2 backdoor images in one.
    assert values == dict(server_samples=2, deal_size=3, sample_passes=46, evaluated_images=4 * (2 * 5 + 2))
    _, without = federated_setup.party_sizes(fake_federation(backdoor=None, backdoor_test=None))
    assert without["deal_size"] == 4 and without["evaluated_images"] == 4 * 10


def test_the_largest_share_of_one_label():
    counts = federated_setup.label_counts(fake_federation())
    assert counts.values.tolist() == [[2, 1], [1, 3]]
    assert federated_setup.largest_label_share(counts) == 75.0
    splits, values = federated_setup.label_splits(fake_federation(), fake_federation(clean_data=[data(0, 0), data(1, 1)]))
    assert list(splits) == ["round robin (IID, the paper)", "Dirichlet, alpha = 0.5"]
    assert values == dict(iid_max_share=75.0, dirichlet_max_share=100.0)


def test_the_initial_tensors_against_keras_bounds():
    federation = SimpleNamespace(config=flsim.Config(), dataset=SimpleNamespace(input_shape=(1, 28, 28), num_classes=10),
                                 initial_weights=torch.full((813802,), -0.01))
    table, values = federated_setup.initial_tensors(federation)
    assert table.keras_bound["conv1.weight"] == round((6 / 9) ** 0.5, 4)  # He: fan-in 3 x 3 x 1
    assert table.keras_bound["fc2.weight"] == round((6 / (128 + 10)) ** 0.5, 4)  # Glorot: fan-in + fan-out
    assert table.keras_bound["fc2.bias"] == 0.0 and (table.largest == 0.01).all()
    assert table.parameters["fc1.weight"] == 6272 * 128 and table["shape"]["fc2.bias"] == (10,)
    assert values == dict(num_parameters=813802, fc1_share=pytest.approx(100 * 6272 * 128 / 813802))


def test_poison_positions_per_number_of_attackers():
    table = federated_setup.poison_table(30, 10)
    assert table.first_positions.tolist() == [[0, 10, 20], [0, 20], [0]]
    assert table.per_attacker.tolist() == [3, 2, 1] and table.all_attackers.tolist() == [3, 4, 4]


def test_the_backdoor_in_words():
    dataset = SimpleNamespace(train_y=torch.tensor([3, 3, 5, 3, 2]), classes=[f"c{k}" for k in range(6)])
    semantic = SimpleNamespace(excluded=torch.tensor([0, 1, 2]), eval_y=torch.tensor([2, 2, 2, 2]))
    assert federated_setup.source_class(dataset, semantic) == 3  # two of its three images show class 3
    assert federated_setup.backdoor_values(dataset, semantic, 2) == dict(source_name="c3", target_name="c2",
                                                               num_semantic_images=4, backdoor_step=25.0)


def test_the_two_runs_side_by_side():
    clean = SimpleNamespace(rounds=pd.DataFrame({"round": [0, 1, 2], "main_accuracy": [0.2, 0.5, 0.7]}))
    backdoored = SimpleNamespace(rounds=pd.DataFrame({"round": [0, 1, 2], "main_accuracy": [0.3, 0.45, 0.72],
                                                      "backdoor_accuracy": [0.0, 0.5, 0.25]}))
    table, values = federated_setup.run_accuracies(clean, backdoored)
    assert list(table.columns) == ["main_accuracy clean", "main_accuracy backdoored", "backdoor_accuracy"]
    assert values == pytest.approx(dict(clean_accuracy=70, backdoored_accuracy=72, backdoor_accuracy=25,
                                        backdoor_accuracy_max=50, max_gap=5, clean_start=20, backdoored_start=30))
    assert all(isinstance(v, float) for v in values.values())


def test_the_findings_table():
    g = dict(train_size=60000, test_size=10000, server_samples=1091, num_clients=10, samples_per_client=300,
             iid_max_share=16.3, dirichlet_max_share=52.3, num_parameters=813802, clean_accuracy=74.2,
             backdoored_accuracy=71.7, backdoor_accuracy=5.0, backdoor_accuracy_max=5.0)
    found = federated_setup.setup_findings(g)
    assert found["clients x images each"] == "10 x 300"
    assert found["largest share of one label in a client's data, round robin / Dirichlet"] == "16% / 52%"
    assert found["backdoor accuracy, last round / peak"] == "5% / 5%"
