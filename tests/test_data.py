"""The loaders read tiny data sets written in torchvision's real on-disk formats."""

import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from flsim import data


def write_idx(path, array: np.ndarray) -> None:
    """An IDX file as MNIST ships it: magic (type 0x08 = ubyte, ndim), big-endian sizes, bytes."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root, folder="MNIST", n_train=12, n_test=5):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = np.arange(n) % 10
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
    return images, labels


def test_mnist_reads_idx_files(tmp_path):
    test_images, test_labels = write_mnist(tmp_path)
    dataset = data.load("mnist", tmp_path, download=False)
    assert dataset.train_x.shape == (12, 1, 28, 28) and dataset.test_x.shape == (5, 1, 28, 28)
    assert dataset.train_x.dtype == torch.float32
    assert torch.allclose(dataset.test_x[:, 0] * 255, torch.tensor(test_images, dtype=torch.float32))
    assert dataset.test_y.tolist() == test_labels.tolist()
    assert dataset.num_classes == 10 and dataset.input_shape == (1, 28, 28)


def write_cifar(root, per_batch=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    for name in names:
        # Each row: 1024 red, then 1024 green, then 1024 blue values, row-major.
        rows = rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8)
        rows[0] = 0
        rows[0, :1024] = 255  # a pure red first image
        batch = {"data": rows, "labels": list(rng.integers(0, 10, per_batch)), "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(batch))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))


def test_cifar10_reads_python_pickles(tmp_path, monkeypatch):
    write_cifar(tmp_path)
    # The format is the real one; only the checksums, pinned to the full release, cannot match.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda path, md5=None: True)
    dataset = data.load("cifar10", tmp_path, download=False)
    assert dataset.train_x.shape == (20, 3, 32, 32) and dataset.test_x.shape == (4, 3, 32, 32)
    red = dataset.test_x[0]
    assert red[0].eq(1).all() and red[1:].eq(0).all()
    assert dataset.classes[2] == "bird"


def test_fashion_mnist_from_the_debian_package(tmp_path):
    dataset = data.load("fashion_mnist", tmp_path / "fresh", download=False)
    assert dataset.train_x.shape == (60000, 1, 28, 28) and dataset.test_x.shape == (10000, 1, 28, 28)
    assert 0 <= dataset.train_x.min() and dataset.train_x.max() <= 1
    assert torch.bincount(dataset.train_y).tolist() == [6000] * 10
    assert dataset.classes[0] == "T-shirt/top" and dataset.classes[2] == "Pullover"
    # Unpacked into torchvision's layout, complete: the next load reads it from there.
    assert sorted(p.name for p in (tmp_path / "fresh" / "FashionMNIST" / "raw").iterdir()) == sorted(data.MNIST_FILES)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_files_read_as_torchvision_reads_them(name, tmp_path):
    import torchvision

    if name == "mnist":
        write_mnist(tmp_path)
    ours = data.load(name, tmp_path, download=False)  # Fashion-MNIST: Debian's files, unpacked
    kind = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST}[name]
    train, test = (kind(tmp_path, train=train, download=False) for train in (True, False))
    assert ours.classes == tuple(train.classes)
    for x, y, split in ((ours.train_x, ours.train_y, train), (ours.test_x, ours.test_y, test)):
        assert torch.equal(x, split.data.unsqueeze(1).float() / 255) and torch.equal(y, split.targets)


def test_a_file_that_is_not_idx_or_is_cut_short_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is not an IDX file"):
        data.read_idx(path)
    images = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(images, np.zeros((3, 28, 28)))
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or damaged"):
        data.read_idx(images)


def test_loading_a_dataset_of_idx_files_does_not_import_torchvision(tmp_path):
    write_mnist(tmp_path)
    code = f"import sys; from flsim import data; data.load('mnist', {str(tmp_path)!r}, download=False); " \
           "print('torchvision' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_missing_dataset_names_the_places_and_the_remedy(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-package")
    messages = {}
    for name in ("mnist", "fashion_mnist", "cifar10"):
        with pytest.raises(data.DatasetNotFoundError) as error:
            data.load(name, tmp_path / "empty", download=False)
        messages[name] = str(error.value)
        assert repr(name) in messages[name] and str(tmp_path / "empty") in messages[name]
    assert "no-package" in messages["fashion_mnist"] and "apt-get install dataset-fashion-mnist" in messages["fashion_mnist"]
    assert "internet" in messages["cifar10"] and "no-package" not in messages["cifar10"]


def test_unknown_dataset_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="dataset='svhn'.*'fashion_mnist'"):
        data.load("svhn", tmp_path)


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FLSIM_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    assert str(data.data_dir("/explicit")) == "/explicit"
