"""Aggregation rules: from the chosen clients' weights to the new global weights."""

from __future__ import annotations

import torch


def fedavg(weights: torch.Tensor) -> torch.Tensor:
    """The paper's FedAvg: the plain, unweighted mean of the clients' weights (clients x parameters)."""
    return weights.mean(0)
