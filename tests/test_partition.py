import numpy as np
import torch

from flsim import partition


def test_round_robin_deals_positions_in_turn():
    parties = partition.round_robin(23, 4)
    assert parties[0].tolist() == [0, 4, 8, 12, 16, 20]
    assert parties[3].tolist() == [3, 7, 11, 15, 19]
    assert sorted(torch.cat(parties).tolist()) == list(range(23))


def test_split_gives_party_zero_to_the_server_and_caps_clients():
    labels = torch.arange(110) % 10
    rng = np.random.default_rng(0)
    server, clients = partition.split(labels, 10, "iid", 0.5, 1.0, None, rng)
    assert server.tolist() == list(range(0, 110, 11))
    assert clients[0].tolist() == list(range(1, 110, 11))
    server, clients = partition.split(labels, 10, "iid", 0.5, 0.5, 3, rng)
    assert len(server) == 5 and all(len(c) == 3 for c in clients)
    assert clients[9].tolist() == [10, 21, 32]


def test_dirichlet_covers_the_client_pool_once_and_skews_labels():
    labels = torch.arange(5500) % 10
    rng = np.random.default_rng(0)
    server, clients = partition.split(labels, 10, "dirichlet", 0.1, 1.0, None, rng)
    everything = torch.cat([server, *clients]).sort().values
    assert everything.tolist() == list(range(5500))
    # With alpha = 0.1 a typical client is dominated by few classes; with 100 it is near uniform.
    def top_class_share(parts):
        return np.mean([torch.bincount(labels[c], minlength=10).max().item() / max(len(c), 1) for c in parts])
    _, iid_like = partition.split(labels, 10, "dirichlet", 100.0, 1.0, None, np.random.default_rng(0))
    assert top_class_share(clients) > 0.5 > 0.2 > top_class_share(iid_like)


def test_dirichlet_is_seeded():
    labels = torch.arange(1000) % 10
    a = partition.dirichlet(labels, 5, 0.5, np.random.default_rng(3))
    b = partition.dirichlet(labels, 5, 0.5, np.random.default_rng(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
