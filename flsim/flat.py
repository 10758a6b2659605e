"""A model on flat weights: load a vector, take SGD steps in it, score it (chapter 2).

A flat vector holds every floating-point tensor of a model's state dict
(parameters, and buffers such as BatchNorm's running statistics), in its order
and layout; :class:`flsim.layout.Layers` names each tensor's slice and the
output layer. :class:`FlatModel` makes loading a client's weights, an SGD step
and reading the result a few tensor operations, with no model copied per client;
the round executors of :mod:`flsim.train` run one per worker thread.

What makes a step fast (benchmarks/README.md): a model's written-out SGD step
where one is registered (:mod:`flsim.models.paper_cnn_sgd`: no autograd graph);
convolution weights kept channels-last, the layout oneDNN's kernels want; and
glibc told to keep freed memory (otherwise every step page-faults its
activations in afresh).
"""

from __future__ import annotations

import ctypes
import functools
import platform

import torch
from torch import nn
from torch.nn import functional as F

from .layout import Layers, flat_tensors
from .models import output_layer_of, sgd_step_for


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed blocks instead of returning them to the OS (Linux only).

    By default glibc unmaps large freed blocks, so each training step's
    activation tensors are page-faulted in again: a quarter to a third of a
    step of the paper CNN on CPU. This keeps blocks up to 32 MiB in the heap
    and 1 GiB of free heap before trimming; it changes no result.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30))


def round_matrix(clients: int, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised clients x parameters matrix for a round's weights.

    Fresh memory costs page faults on first touch (more with transparent huge
    pages, whose compaction is slower still): a tenth of training a 10-sample
    client. So a simulation allocates one matrix and trains in it every round.
    """
    return like.new_empty(clients, like.numel())


def _copied(tensor: torch.Tensor) -> bool:
    """Whether a model's tensor is a copy of its part of the flat weights (not a view): a channels-last
    convolution weight, or a buffer."""
    return not isinstance(tensor, nn.Parameter) or tensor.dim() == 4


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A batch of images in the channels-last layout the convolutions are kept in (other tensors as they are)."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class FlatModel:
    """``model`` trained and scored from flat weight vectors by minibatch SGD (``lr``, ``batch_size``).

    The model's tensors are views into the vector being trained (``weights``),
    so a client trains in place in its row of a round's weights. 4-D
    (convolution) weights train in their own channels-last tensors, and buffers
    in the model's own (BatchNorm updates its running statistics in place, which
    must not touch the memory the parameters' gradients are computed from): both
    are copied in and out once per client. SGD steps the parameters; the
    model's own written-out step if one is registered for its class
    (:func:`flsim.models.register_sgd_step`), else autograd's. ``output_layer``:
    the ``nn.Linear`` that gives the logits (None: the model's last one).
    """

    def __init__(self, model: nn.Module, lr: float, batch_size: int, output_layer: str | None = None):
        keep_freed_memory()
        self.model = model
        self.lr = lr
        self.batch_size = batch_size
        self.params = list(model.parameters())
        self.layers = Layers.of(model, output_layer_of(model, output_layer))
        with torch.no_grad():
            for p in self.params:
                if p.dim() == 4:
                    p.data = p.data.clone(memory_format=torch.channels_last)
        self._tensors = list(flat_tensors(model).values())
        self.has_buffers = len(self._tensors) > len(self.params)
        self.weights = torch.cat([t.detach().reshape(-1) for t in self._tensors])
        self.load(self.weights)
        self._model_step = sgd_step_for(model)  # a written-out step: the same result, faster

    def load(self, weights: torch.Tensor) -> None:
        """Point the model at ``weights``: its parameters become views into it (copies, for the channels-last
        ones and the buffers)."""
        self.weights = weights
        with torch.no_grad():
            for tensor, part in zip(self._tensors, self.layers.values()):
                if _copied(tensor):
                    tensor.copy_(weights[part].view_as(tensor))
                else:
                    tensor.data = weights[part].view_as(tensor)

    def _store(self) -> None:
        """Write the channels-last parameters and the buffers back into ``weights``."""
        with torch.no_grad():
            for tensor, part in zip(self._tensors, self.layers.values()):
                if _copied(tensor):
                    self.weights[part].view_as(tensor).copy_(tensor)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self._model_step is not None:
            self._model_step(self.model, x, y, self.lr)
            return
        grads = torch.autograd.grad(F.cross_entropy(self.model(x), y), self.params)
        with torch.no_grad():
            torch._foreach_add_(self.params, grads, alpha=-self.lr)

    def gradient(self, weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The gradient of the mean cross-entropy on (x, y) at ``weights``, with respect to the
        parameters (in the model's training mode), as one flat vector; ``weights`` is left as it is."""
        self.load(weights)  # the forward pass updates the model's running statistics, not ``weights``
        self.model.train()
        grads = torch.autograd.grad(F.cross_entropy(self.model(channels_last(x)), y), self.params)
        return torch.cat([g.reshape(-1) for g in grads])  # reshape reads channels-last in logical order

    def train(self, start: torch.Tensor, x: torch.Tensor, y: torch.Tensor, epochs: int,
              generator: torch.Generator, out: torch.Tensor | None = None) -> torch.Tensor:
        """Weights after ``epochs`` of minibatch SGD from ``start``; batch order from ``generator``.

        Trains in ``out`` if given (a row of a round's weights), else in a new tensor, and returns it.
        """
        self.load(start.clone() if out is None else out.copy_(start))
        self.model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator).to(x.device)
            # One gather per epoch; the batches are then contiguous slices.
            xs, ys = channels_last(x[order]), y[order]
            for i in range(0, len(x), self.batch_size):
                self._step(xs[i:i + self.batch_size], ys[i:i + self.batch_size])
        self._store()
        return self.weights

    @torch.inference_mode()
    def score(self, weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[int, float]:
        """The correct predictions and the summed cross-entropy of ``weights`` on (x, y), in eval mode."""
        self.load(weights)
        self.model.eval()
        logits = self.model(channels_last(x))
        return (logits.argmax(1) == y).sum().item(), F.cross_entropy(logits, y, reduction="sum").item()
