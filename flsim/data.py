"""Datasets as in-memory tensors, read through torchvision's dataset classes.

Look-up order for every dataset:

1. the data directory (``Config.data_dir``, else ``$FLSIM_DATA``, else the
   user cache dir), in torchvision's on-disk layout;
2. for Fashion-MNIST, the files of Debian's ``dataset-fashion-mnist`` package,
   unpacked once into the data directory;
3. torchvision's download (needs internet).

If all fail, :class:`DatasetNotFoundError` says where it looked and how to get
the data. There is no silent fallback to synthetic data.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch
import torchvision

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

_TORCHVISION = {
    "fashion_mnist": torchvision.datasets.FashionMNIST,
    "mnist": torchvision.datasets.MNIST,
    "cifar10": torchvision.datasets.CIFAR10,
}
_HOW_TO_GET = {
    "fashion_mnist": "run `apt-get install dataset-fashion-mnist`, or run once with internet access",
    "mnist": "run once with internet access (torchvision downloads it), or copy MNIST/raw/ into the data directory",
    "cifar10": "run once with internet access (torchvision downloads it), "
               "or unpack cifar-10-python.tar.gz into the data directory",
}


class DatasetNotFoundError(FileNotFoundError):
    """No copy of a dataset was found and it could not be downloaded."""


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset: float32 images in [0, 1] as N x C x H x W."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def data_dir(configured: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else ``$FLSIM_DATA``, else the user cache dir."""
    return Path(configured or os.environ.get("FLSIM_DATA") or platformdirs.user_cache_dir("flsim") + "/data")


def load(name: str, root: str | os.PathLike | None = None, download: bool = True) -> Dataset:
    """Load a dataset (``fashion_mnist``, ``mnist`` or ``cifar10``) into memory.

    Loaded datasets are kept for the life of the process, so a sweep reads the
    files once.
    """
    if name not in _TORCHVISION:
        raise ValueError(f"dataset={name!r} is not allowed; choose one of {', '.join(map(repr, _TORCHVISION))}")
    return _load(name, data_dir(root).resolve(), download)


@functools.lru_cache(maxsize=4)
def _load(name: str, root: Path, download: bool) -> Dataset:
    looked = [str(root)]
    splits = _read(name, root)
    if splits is None and name == "fashion_mnist":
        looked.append(str(DEBIAN_FASHION_MNIST))
        if _unpack_debian_files(root):
            splits = _read(name, root)
    if splits is None and download:
        looked.append("torchvision download")
        try:
            splits = [_TORCHVISION[name](root, train=train, download=True) for train in (True, False)]
        except Exception as error:  # no network, mirror down, ...: report below
            looked[-1] += f" ({type(error).__name__}: {error})"
    if splits is None:
        raise DatasetNotFoundError(
            f"dataset {name!r} not found; looked in: {'; '.join(looked)}. To get it: {_HOW_TO_GET[name]}."
        )
    (train_x, train_y), (test_x, test_y) = (_as_tensors(split) for split in splits)
    return Dataset(name, train_x, train_y, test_x, test_y, tuple(splits[0].classes))


def _read(name: str, root: Path):
    try:
        return [_TORCHVISION[name](root, train=train, download=False) for train in (True, False)]
    except RuntimeError:  # torchvision: "Dataset not found" (or corrupted)
        return None


def _as_tensors(split) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.as_tensor(split.data)
    if images.ndim == 3:  # MNIST-style N x H x W
        images = images.unsqueeze(1)
    else:  # CIFAR-style N x H x W x C
        images = images.permute(0, 3, 1, 2)
    x = images.contiguous().float().div_(255.0)
    y = torch.as_tensor(split.targets, dtype=torch.int64)
    return x, y


def _unpack_debian_files(root: Path) -> bool:
    """Unpack the Debian package's .gz files into torchvision's layout, atomically."""
    sources = [DEBIAN_FASHION_MNIST / f"{f}.gz" for f in MNIST_FILES]
    if not all(s.is_file() for s in sources):
        return False
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for source, target in zip(sources, MNIST_FILES):
        with gzip.open(source) as src, tempfile.NamedTemporaryFile(dir=raw, delete=False) as tmp:
            shutil.copyfileobj(src, tmp)
        os.replace(tmp.name, raw / target)
    return True
