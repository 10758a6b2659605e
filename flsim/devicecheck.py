"""A check, on a CPU-only machine, that a round's tensors all live on the weights' device.

On a GPU a tensor made without ``device=`` lands on the CPU and fails where it meets the weights
(a CPU mask indexed with CUDA indices, say); on a CPU-only machine nothing tells. Inside
:func:`checking_devices` such a tensor is made on the ``meta`` device instead, which fails in the
same places, and any torch call whose tensors sit on two devices raises :class:`DeviceMismatch`
naming the call. Random draws from a CPU generator (``generator=``) stay on the CPU: flsim draws
them there on purpose, for the same numbers on every device, and moves them. The round's worker
threads (:mod:`flsim.workers`) run their jobs under the check too.

    with checking_devices():
        flsim.run(config, cache=False)
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

# Factories that take a device and, without one, make their tensor on the default device.
FACTORIES = frozenset({torch.zeros, torch.ones, torch.empty, torch.full, torch.arange, torch.eye, torch.linspace,
                       torch.tensor, torch.as_tensor, torch.rand, torch.randn, torch.randint, torch.randperm})
_active = threading.Event()  # set while a checking_devices block runs: worker threads check too


class DeviceMismatch(RuntimeError):
    """Tensors of two devices met in one torch call."""


class DeviceCheck(TorchFunctionMode):
    """The torch function mode behind :func:`checking_devices` (one per thread)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and kwargs.get("device") is None and kwargs.get("generator") is None:
            if not (func is torch.as_tensor and isinstance(args[0], torch.Tensor)):  # as_tensor keeps a tensor's
                kwargs = {**kwargs, "device": "meta"}
        devices = {t.device for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor) and t.dim() > 0}
        if len(devices) > 1:
            name = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
            raise DeviceMismatch(f"{name} got tensors on {', '.join(sorted(map(str, devices)))}")
        return func(*args, **kwargs)


@contextlib.contextmanager
def checking_devices() -> Iterator[None]:
    """Runs the block (and the jobs it gives the worker threads) under the device check."""
    _active.set()
    try:
        with DeviceCheck():
            yield
    finally:
        _active.clear()


def checked(job: Callable) -> Callable:
    """``job`` as a worker thread runs it: under the device check while a :func:`checking_devices`
    block runs, else unchanged."""
    if not _active.is_set():
        return job

    @functools.wraps(job)
    def run(*args, **kwargs):
        with DeviceCheck():
            return job(*args, **kwargs)

    return run
