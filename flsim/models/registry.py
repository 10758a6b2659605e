"""Architectures by name: what ``Config.model`` may say, and how flsim trains each one."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..registry import check_identifiable, fingerprint, new_registry, source_of

Factory = Callable[[tuple[int, int, int], int], nn.Module]  # (input shape C x H x W, classes) -> model


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: how to build it, its output layer, and what identifies it in the cache."""

    name: str
    factory: Factory
    output_layer: str | None  # the nn.Linear module that gives the logits; None: the model's last nn.Linear
    version: str | None  # None: identified by its source code and its tensors' shapes

    def build(self, input_shape: tuple[int, int, int], num_classes: int, seed: int | None = None) -> nn.Module:
        """A new model, checked to have the output layer it declares, initialised from ``seed``.

        Initialisers (``nn.init``) draw from torch's global generator, the only one they take. So every
        build holds one lock and gives the generator back as it found it: builds in threads never
        interleave their draws, and the caller's own draws are not moved.
        """
        with _GLOBAL_GENERATOR, torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            model = self.factory(tuple(input_shape), num_classes)
        if not isinstance(model, nn.Module):
            raise TypeError(f"model {self.name!r}: its factory returned {type(model).__name__}, not a torch.nn.Module")
        output_layer_of(model, self.output_layer, f"model {self.name!r}")
        return model


MODELS = new_registry("model", "flsim.register_model")
_GLOBAL_GENERATOR = threading.Lock()  # held while a model is built (ModelSpec.build)


def register_model(name: str, factory: Factory, *, output_layer: str | None = None,
                   version: str | None = None) -> ModelSpec:
    """Make ``Config(model=name)`` build ``factory(input_shape, num_classes)``.

    ``output_layer``: the name of the ``nn.Linear`` module that gives the
    logits (it needs a bias); its ``.weight`` and ``.bias`` are what the
    paper's statistic, the output-layer detectors and the analyses read. None:
    the model's last ``nn.Linear``.

    ``version``: what identifies the architecture in the result cache. None:
    the source code of ``factory`` and of the model's own module classes, and
    the names and shapes of its tensors, so that editing the model recomputes
    its results; give a version (and change it) when behaviour lives
    elsewhere, e.g. in a function the model calls.

    Every floating-point tensor of the model's ``state_dict`` is part of the
    flat weights a client submits: its parameters, and BatchNorm's running
    mean and variance, which therefore FedAvg averages like weights (the
    mean of the clients' running variances, not their pooled variance) and
    the statistics and detectors read like any tensor. SGD trains the
    parameters only; such a model trains on the sequential backend.
    Registering a name again replaces it (re-running a notebook cell); the
    built-in names cannot be replaced.

    >>> import flsim, torch
    >>> def mlp(input_shape, num_classes):
    ...     return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.ReLU(),
    ...                                torch.nn.Linear(64, num_classes))
    >>> spec = flsim.register_model("mlp", mlp)  # output layer: its last nn.Linear, "3"
    >>> flsim.Config(model="mlp").model
    'mlp'
    """
    if not callable(factory):
        raise TypeError(f"factory must be callable as factory(input_shape, num_classes), got {factory!r}")
    check_identifiable("the model factory", factory, version)
    spec = ModelSpec(name, factory, output_layer, version)
    MODELS.add(name, spec)
    return spec


def output_layer_of(model: nn.Module, declared: str | None = None, what: str = "the model") -> str:
    """The module name of ``model``'s output layer: ``declared``, else its last ``nn.Linear``."""
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    layer = declared if declared is not None else (linears[-1] if linears else None)
    module = dict(model.named_modules()).get(layer) if layer is not None else None
    if not isinstance(module, nn.Linear) or module.bias is None:
        found = ", ".join(map(repr, linears)) or "none"
        raise ValueError(f"{what}: the output layer must be an nn.Linear with a bias; output_layer={layer!r} "
                         f"is not one (its nn.Linear modules: {found})")
    return layer


def has_float_buffers(model: nn.Module) -> bool:
    """Whether ``model`` keeps floating-point buffers (BatchNorm's statistics): the batched backend
    trains parameters only (:func:`flsim.train.backend_name`)."""
    return any(t.is_floating_point() for t in model.buffers())


@functools.cache
def builds_float_buffers(spec: ModelSpec, input_shape: tuple[int, int, int], num_classes: int) -> bool:
    """:func:`has_float_buffers` of ``spec``'s model, built once per shape."""
    return has_float_buffers(spec.build(input_shape, num_classes))


@functools.cache
def identity(spec: ModelSpec, input_shape: tuple[int, int, int], num_classes: int) -> str:
    """What the result cache knows ``spec`` by: its name and version, or its name and a hash of its code and shapes."""
    if spec.version is not None:
        return f"{spec.name}@{spec.version}"
    model = spec.build(input_shape, num_classes)
    own = {type(m) for m in model.modules() if not type(m).__module__.startswith("torch.")}
    parts = [source_of(spec.factory) or ""]
    parts += sorted(source_of(c) or c.__qualname__ for c in own)
    parts += [f"{n}:{tuple(t.shape)}:{t.dtype}" for n, t in model.state_dict().items()]
    return f"{spec.name}@{fingerprint(*parts)}"


# A model's own SGD step, written out for speed; the trainer uses it for models of exactly this class.
SGD_STEPS: dict[type, Callable] = {}


def register_sgd_step(model_class: type, step: Callable) -> None:
    """Train models of exactly ``model_class`` with ``step(model, x, y, lr)`` instead of autograd's SGD step.

    The step must leave the parameters as autograd and ``torch.optim.SGD`` would
    (tests/test_models.py checks the paper CNN's bit for bit).
    """
    SGD_STEPS[model_class] = step


def sgd_step_for(model: nn.Module) -> Callable | None:
    """The written-out step registered for ``model``'s exact class, or None (autograd)."""
    return SGD_STEPS.get(type(model))
