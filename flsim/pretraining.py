"""The server's pre-training, done once per process for the runs that pre-train on the same inputs.

The runs of a sweep or a chapter that differ only in what the clients do (the attack, the rule,
the dose, the rounds) pre-train the same model on the same server data in the same batch order.
The pre-trained weights are kept for the life of the process (the last ``KEPT``), keyed by
everything the training reads: the starting weights and the data (their bytes hashed), the batch
order's seed, the epochs, and the trainer's model (class and layers), learning rate, batch size and
device.
A kept result is the same bits a new training gives (tests/test_pretraining.py).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import torch

from .flat import FlatModel

KEPT = 8  # pre-trained models kept, most recently used first out last (a few MB each for the paper's CNN)
_kept: OrderedDict[tuple, torch.Tensor] = OrderedDict()
_lock = threading.Lock()


def _digest(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def pretrain(trainer: FlatModel, start: torch.Tensor, x: torch.Tensor, y: torch.Tensor, epochs: int,
             order_seed: int) -> torch.Tensor:
    """``trainer.train(start, x, y, epochs, generator seeded with order_seed)``, from this process's
    earlier pre-trainings where one had the same inputs."""
    key = (type(trainer.model), repr(trainer.model), trainer.lr, trainer.batch_size, epochs, order_seed, str(start.device),
           _digest(start, x, y))
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key].clone()
    weights = trainer.train(start.clone(), x, y, epochs, torch.Generator().manual_seed(order_seed)).clone()
    with _lock:
        _kept[key] = weights.clone()
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return weights


def forget() -> None:
    """Drop every kept pre-training (tests compare a kept result with a new training)."""
    with _lock:
        _kept.clear()
