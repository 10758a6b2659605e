"""Local training with plain SGD on one reusable model (chapter 2).

The model's parameters and gradients are views into two flat buffers, so
loading the global weights, an SGD step and reading a client's result are each
one tensor operation, and no model is copied per client.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EVAL_BATCH = 128  # small batches keep activations in cache: faster than large ones on CPU


class FlatTrainer:
    """Trains and evaluates ``model`` from flat weight vectors."""

    def __init__(self, model: nn.Module, lr: float, batch_size: int):
        self.model = model
        self.lr = lr
        self.batch_size = batch_size
        params = list(model.parameters())
        self.weights = torch.cat([p.detach().reshape(-1) for p in params])
        self.grads = torch.zeros_like(self.weights)
        self.layers: dict[str, slice] = {}
        offset = 0
        for (name, p) in model.named_parameters():
            n = p.numel()
            p.data = self.weights[offset:offset + n].view_as(p)
            p.grad = self.grads[offset:offset + n].view_as(p)  # autograd accumulates in place
            self.layers[name] = slice(offset, offset + n)
            offset += n

    def train(self, start: torch.Tensor, x: torch.Tensor, y: torch.Tensor, epochs: int,
              generator: torch.Generator) -> torch.Tensor:
        """Weights after ``epochs`` of minibatch SGD from ``start``; batch order from ``generator``."""
        self.weights.copy_(start)
        self.model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator).to(x.device)
            for batch in order.split(self.batch_size):
                self.grads.zero_()
                F.cross_entropy(self.model(x[batch]), y[batch]).backward()
                with torch.no_grad():
                    self.weights.add_(self.grads, alpha=-self.lr)
        return self.weights.clone()

    @torch.inference_mode()
    def evaluate(self, weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Accuracy and mean cross-entropy of ``weights`` on (x, y)."""
        self.weights.copy_(weights)
        self.model.eval()
        correct, loss = 0, 0.0
        for start in range(0, len(x), EVAL_BATCH):
            logits = self.model(x[start:start + EVAL_BATCH])
            labels = y[start:start + EVAL_BATCH]
            correct += (logits.argmax(1) == labels).sum().item()
            loss += F.cross_entropy(logits, labels, reduction="sum").item()
        return correct / len(x), loss / len(x)
