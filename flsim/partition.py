"""Split a training pool between the server and the clients (chapter 2)."""

from __future__ import annotations

import numpy as np
import torch


def round_robin(pool_size: int, num_parties: int) -> list[torch.Tensor]:
    """The paper's IID split: position i goes to party i mod num_parties, in order."""
    positions = torch.arange(pool_size)
    return [positions[p::num_parties] for p in range(num_parties)]


def dirichlet(labels: torch.Tensor, num_clients: int, alpha: float, rng: np.random.Generator) -> list[torch.Tensor]:
    """Label skew: each class is shared among clients in Dirichlet(alpha) proportions.

    Small alpha gives each client few classes; large alpha tends to IID.
    Positions within each client keep the pool's order.
    """
    labels = labels.numpy()
    shares = [[] for _ in range(num_clients)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        proportions = rng.dirichlet(np.full(num_clients, alpha))
        cuts = (np.cumsum(proportions)[:-1] * len(members)).astype(int)
        for client, part in enumerate(np.split(members, cuts)):
            shares[client].append(part)
    return [torch.as_tensor(np.sort(np.concatenate(parts))) for parts in shares]


def split(labels: torch.Tensor, num_clients: int, partition: str, alpha: float,
          server_share: float, samples_per_client: int | None,
          rng: np.random.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Positions in the pool for the server and for each client.

    The pool is dealt round-robin over num_clients + 1 parties, party 0 being
    the server, as in the paper. The server pre-trains on the first
    ``server_share`` of its deal. With ``partition="dirichlet"`` the clients'
    part of the pool is re-split with label skew. ``samples_per_client`` caps
    each client's data (its first positions) to size an experiment.
    """
    server, *clients = round_robin(len(labels), num_clients + 1)
    if partition == "dirichlet":
        client_pool = torch.cat(clients).sort().values
        clients = [client_pool[part] for part in dirichlet(labels[client_pool], num_clients, alpha, rng)]
    server = server[: round(server_share * len(server))]
    if samples_per_client is not None:
        clients = [c[:samples_per_client] for c in clients]
    return server, clients
