"""What every contestant shares: data, initial model, batch order, the plain local training, measurements.

One round, in every contestant: each client trains the global model for one
local epoch of minibatch SGD (lr 0.01, batch 64) on its own Fashion-MNIST
samples, in the same batch order, and the server averages the clients' weights
(FedAvg; clients hold equally many samples, so weighting by sample count
changes nothing). Contestants differ only in how they organise that work.
"""

from __future__ import annotations

import os
import resource

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from flsim import data
from flsim.models import PaperCNN

LR = 0.01
BATCH = 64
EPOCHS = 1  # the batch orders of all contestants coincide for one local epoch (see batch_generator)
SEED = 0


def fashion_mnist():
    return data.load("fashion_mnist")


def client_data(num_clients: int, samples: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Client k's samples: positions k*samples ... of one seeded shuffle of the training set."""
    dataset = fashion_mnist()
    if num_clients * samples > len(dataset.train_y):
        raise ValueError(f"{num_clients} x {samples} samples exceed the training set")
    order = torch.randperm(len(dataset.train_y), generator=torch.Generator().manual_seed(SEED))
    parts = order[: num_clients * samples].view(num_clients, samples)
    return [(dataset.train_x[p], dataset.train_y[p]) for p in parts]


def test_data(samples: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = fashion_mnist()
    return dataset.test_x[:samples], dataset.test_y[:samples]


def initial_model() -> PaperCNN:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return PaperCNN((1, 28, 28))


def batch_generator(round_: int, client: int) -> torch.Generator:
    """The generator a client's DataLoader shuffles with in ``round_``.

    A DataLoader draws one number from its generator (a base seed for workers)
    before the sampler's ``randperm``; :func:`flsim_generator` makes the same
    draw, so flsim's batches are the DataLoader's, batch for batch.
    """
    return torch.Generator().manual_seed(SEED * 1_000_003 + round_ * 100_003 + client)


def flsim_generator(round_: int, client: int) -> torch.Generator:
    generator = batch_generator(round_, client)
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    return generator


def plain_local_training(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                         generator: torch.Generator, batch_size: int = BATCH) -> None:
    """Local training as tutorials write it (and the Flower client runs it): DataLoader, SGD, backward."""
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    model.train()
    for _ in range(EPOCHS):
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()


@torch.inference_mode()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum((model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item() for i in range(0, len(x), 500))
    return correct / len(x)


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def model_bytes() -> int:
    return sum(p.numel() * p.element_size() for p in initial_model().parameters())


def train_flops_per_sample(model: torch.nn.Module, input_shape=(1, 28, 28)) -> int:
    """Multiply-adds of convolutions and dense layers, x2 for FLOPs, x3 for training.

    Training = forward + gradient w.r.t. the inputs + gradient w.r.t. the
    weights, each as costly as the forward pass, except that the first layer
    needs no input gradient. Biases, activations and pooling are not counted.
    """
    macs = []

    def count(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            macs.append(output.numel() * module.in_channels // module.groups * kh * kw)
        elif isinstance(module, torch.nn.Linear):
            macs.append(module.in_features * module.out_features)

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    return 2 * (3 * sum(macs) - macs[0])


# Peak memory: the kernel's high-water mark of this process, reset before the measured part.
def reset_peak_rss() -> int:
    """Reset the high-water mark to the current resident size, and return that size."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return rss_bytes()


def rss_bytes(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss_bytes() -> int:
    return rss_bytes("VmHWM")


def threads() -> int:
    return int(os.environ.get("BENCH_THREADS") or torch.get_num_threads())
