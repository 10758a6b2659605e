"""Datasets as in-memory tensors, in torchvision's on-disk formats.

MNIST and Fashion-MNIST are read from their IDX files here (torchvision's own
reader gives the same tensors, ``tests/test_data.py``): importing torchvision
takes seconds, which every chapter's kernel and every sweep worker would pay.
CIFAR-10 and every download go through torchvision's dataset classes.

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
import math
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS = ("fashion_mnist", "mnist", "cifar10")
# The IDX datasets: torchvision's folder for them and its class names.
_IDX_FOLDERS = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}
_IDX_CLASSES = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
    "mnist": ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
              "8 - eight", "9 - nine"),
}
Split = tuple[torch.Tensor, torch.Tensor]  # images as stored (uint8), labels
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
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is not allowed; choose one of {', '.join(map(repr, DATASETS))}")
    return _load(name, data_dir(root).resolve(), download)


@functools.lru_cache(maxsize=4)
def _load(name: str, root: Path, download: bool) -> Dataset:
    looked = [str(root)]
    read = _read(name, root)
    if read is None and name == "fashion_mnist":
        looked.append(str(DEBIAN_FASHION_MNIST))
        if _unpack_debian_files(root):
            read = _read(name, root)
    if read is None and download:
        looked.append("torchvision download")
        try:
            read = _from_torchvision(name, root, download=True)
        except Exception as error:  # no network, mirror down, ...: report below
            looked[-1] += f" ({type(error).__name__}: {error})"
    if read is None:
        raise DatasetNotFoundError(
            f"dataset {name!r} not found; looked in: {'; '.join(looked)}. To get it: {_HOW_TO_GET[name]}."
        )
    train, test, classes = read
    return Dataset(name, *_as_tensors(*train), *_as_tensors(*test), classes)


def _read(name: str, root: Path) -> tuple[Split, Split, tuple[str, ...]] | None:
    """The train and test splits and the class names found in ``root``, or None."""
    if name in _IDX_FOLDERS:
        raw = root / _IDX_FOLDERS[name] / "raw"
        if not all((raw / f).is_file() for f in MNIST_FILES):
            return None
        train_x, train_y, test_x, test_y = (read_idx(raw / f) for f in MNIST_FILES)
        return (train_x, train_y), (test_x, test_y), _IDX_CLASSES[name]
    try:
        return _from_torchvision(name, root, download=False)
    except RuntimeError:  # torchvision: "Dataset not found" (or corrupted)
        return None


def _from_torchvision(name: str, root: Path, download: bool) -> tuple[Split, Split, tuple[str, ...]]:
    import torchvision  # here, not at the top: only CIFAR-10 and downloads need it

    kind = {"fashion_mnist": torchvision.datasets.FashionMNIST, "mnist": torchvision.datasets.MNIST,
            "cifar10": torchvision.datasets.CIFAR10}[name]
    train, test = (kind(root, train=train, download=download) for train in (True, False))
    return *((torch.as_tensor(s.data), torch.as_tensor(s.targets)) for s in (train, test)), tuple(train.classes)


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file of unsigned bytes (MNIST's format): a magic number (0x08 for ubyte, then the number of
    dimensions), the big-endian size of each dimension, the bytes."""
    data = path.read_bytes()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08 or not 1 <= data[3] <= 3:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    if len(data) != 4 + 4 * ndim + math.prod(shape):
        raise ValueError(f"{path} holds {len(data)} bytes, not the {4 + 4 * ndim + math.prod(shape)} its header "
                         f"gives for {shape}: truncated or damaged; delete it to unpack or download it again")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=4 + 4 * ndim).view(shape)


def _as_tensors(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if images.ndim == 3:  # MNIST-style N x H x W
        images = images.unsqueeze(1)
    else:  # CIFAR-style N x H x W x C
        images = images.permute(0, 3, 1, 2)
    return images.contiguous().float().div_(255.0), labels.to(torch.int64)


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
