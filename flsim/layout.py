"""Where each tensor of a model lives in its flat weight vector, and which tensors are the output layer."""

from __future__ import annotations

import torch
from torch import nn


class Layers(dict):
    """Tensor name -> its slice of the flat weights, in the order of the model's ``state_dict``.

    The flat weights hold every floating-point tensor of the state dict:
    parameters, and buffers such as BatchNorm's running statistics.
    ``output_layer`` names the module that gives the logits; its bias is the
    paper's tensor (:attr:`Layers.output_bias`).
    """

    def __init__(self, slices: dict[str, slice], output_layer: str):
        super().__init__(slices)
        self.output_layer = output_layer
        missing = [name for name in (self.output_weight_name, self.output_bias_name) if name not in self]
        if missing:
            raise ValueError(f"output_layer={output_layer!r}: the layers hold no {' and no '.join(missing)}")

    @classmethod
    def of(cls, model: nn.Module, output_layer: str) -> "Layers":
        slices, offset = {}, 0
        for name, tensor in flat_tensors(model).items():
            slices[name] = slice(offset, offset + tensor.numel())
            offset += tensor.numel()
        return cls(slices, output_layer)

    @property
    def output_weight_name(self) -> str:
        """The output layer's weight, e.g. ``"fc2.weight"``."""
        return f"{self.output_layer}.weight"

    @property
    def output_bias_name(self) -> str:
        """The output layer's bias, e.g. ``"fc2.bias"``: the paper's tensor."""
        return f"{self.output_layer}.bias"

    @property
    def output_weight(self) -> slice:
        """The output layer's weight's slice of the flat weights."""
        return self[self.output_weight_name]

    @property
    def output_bias(self) -> slice:
        """The output layer's bias's slice of the flat weights."""
        return self[self.output_bias_name]

    def __reduce__(self):
        return type(self), (dict(self), self.output_layer)


def flat_tensors(model: nn.Module) -> dict:
    """The tensors of ``model`` that its flat weights hold: the floating-point ones of its state dict
    (BatchNorm's integer batch counter is left out: with a momentum it changes nothing)."""
    return {name: tensor for name, tensor in model.state_dict(keep_vars=True).items()
            if tensor.is_floating_point()}


def load_flat(model: nn.Module, weights) -> nn.Module:
    """Copy flat ``weights`` (a vector in :func:`flat_tensors` order) into ``model``'s own tensors; returns it."""
    weights = torch.as_tensor(weights)  # a tensor, or the array Results.load reads
    tensors = flat_tensors(model)
    total = sum(t.numel() for t in tensors.values())
    if weights.shape != (total,):
        raise ValueError(f"weights of shape {tuple(weights.shape)} do not fit {type(model).__name__}, whose "
                         f"flat weights hold {total} numbers")
    offset = 0
    with torch.no_grad():
        for tensor in tensors.values():
            tensor.copy_(weights[offset:offset + tensor.numel()].view_as(tensor))
            offset += tensor.numel()
    return model
