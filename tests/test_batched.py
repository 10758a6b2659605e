"""The batched backend (vmap over a round's clients) trains exactly what the sequential one does.

The unit tests train in float64: the two backends sum in different orders, and
in float32 with a large learning rate a rounding difference can flip a ReLU or
max-pool choice and grow to 1e-3 within two steps, which says nothing about the
maths. In float64 they agree to 1e-12.
"""

import pandas as pd
import pytest
import torch

import flsim
from flsim import train
from flsim.models import PaperCNN
from flsim.train import BatchedTrainer, FlatTrainer, backend_name, make_trainer
from tests.conftest import TINY

# Unequal clients: several batches with a partial last one, one partial batch, none at all.
SIZES = [20, 7, 0, 16, 3]


def round_inputs(seed=0):
    torch.manual_seed(seed)
    datasets = [(torch.rand(n, 1, 12, 12, dtype=torch.float64), torch.randint(0, 10, (n,))) for n in SIZES]
    return datasets, [torch.Generator().manual_seed(10 + k) for k in range(len(SIZES))]


def train_round(trainer_class, epochs=2):
    torch.manual_seed(0)
    trainer = trainer_class(PaperCNN((1, 12, 12)).double(), lr=0.1, batch_size=8)
    start = trainer.weights.clone()
    datasets, generators = round_inputs()
    return start, trainer.train_clients(start, datasets, epochs, generators)


def test_batched_matches_sequential_for_unequal_clients():
    start, sequential = train_round(FlatTrainer)
    _, batched = train_round(BatchedTrainer)
    assert batched.shape == (len(SIZES), start.numel())
    # Same batches in the same order; only the summation order of float sums differs.
    assert torch.allclose(batched, sequential, rtol=0, atol=1e-12)
    assert (sequential - start).abs().amax(1)[[0, 1, 3, 4]].gt(1e-3).all()  # every client with data moved
    assert torch.equal(batched[2], start) and torch.equal(sequential[2], start)  # no data, no change


def test_batched_chunks_give_the_same_round(monkeypatch):
    _, whole = train_round(BatchedTrainer)
    trainer = BatchedTrainer(PaperCNN((1, 12, 12)).double(), lr=0.1, batch_size=8)
    per_client = trainer._estimate_bytes_per_client(torch.rand(1, 1, 12, 12, dtype=torch.float64))
    monkeypatch.setattr(train, "CPU_CHUNK_BYTES", 2 * per_client)
    assert trainer.chunk_size(round_inputs()[0]) == 2
    _, chunked = train_round(BatchedTrainer)
    assert torch.allclose(chunked, whole, rtol=0, atol=1e-12)


@pytest.fixture
def threads():
    """Sets torch's thread count for the test, and puts it back."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_sequential_round_trains_each_client_alone_on_one_thread(threads):
    start, weights = train_round(FlatTrainer, epochs=1)
    trainer = FlatTrainer(PaperCNN((1, 12, 12)).double(), lr=0.1, batch_size=8)
    datasets, generators = round_inputs()
    threads(1)
    alone = trainer.train(start, *datasets[3], 1, generators[3])
    assert torch.equal(weights[3], alone)


@pytest.mark.parametrize("count", [1, 3])
def test_a_round_does_not_depend_on_the_number_of_threads(threads, count):
    """Clients are shared out among the threads, each trained on one: the same bits on any machine."""
    threads(2)
    _, two = train_round(FlatTrainer)
    threads(count)
    torch.manual_seed(0)
    trainer = FlatTrainer(PaperCNN((1, 12, 12)).double(), lr=0.1, batch_size=8)
    start = trainer.weights.clone()
    for _ in range(2):  # the second round reuses the worker threads and their models
        assert torch.equal(trainer.train_clients(start, round_inputs()[0], 2, round_inputs()[1]), two)
    assert torch.get_num_threads() == count


def test_a_client_that_fails_fails_the_round():
    trainer = FlatTrainer(PaperCNN((1, 12, 12)).double(), lr=0.1, batch_size=8)
    datasets, generators = round_inputs()
    datasets[1] = (torch.rand(7, 3, 12, 12, dtype=torch.float64), datasets[1][1])  # three channels for a one-channel CNN
    with pytest.raises(RuntimeError, match="channels"):
        trainer.train_clients(trainer.weights.clone(), datasets, 1, generators)


def test_backend_selection(monkeypatch):
    model = PaperCNN((1, 8, 8))
    monkeypatch.delenv("FLSIM_BACKEND", raising=False)
    assert type(make_trainer(model, 0.1, 4)) is FlatTrainer  # auto on CPU: sequential
    # auto on CUDA: batched, by rule, never by timing (the backend is in the cache key)
    assert backend_name("cuda") == "batched" and backend_name("cuda", buffers=True) == "sequential"
    assert backend_name("cuda", "sequential") == "sequential" and backend_name("cpu") == "sequential"
    assert type(make_trainer(model, 0.1, 4, backend="batched")) is BatchedTrainer
    monkeypatch.setenv("FLSIM_BACKEND", "batched")
    assert type(make_trainer(model, 0.1, 4)) is BatchedTrainer
    with pytest.raises(ValueError, match="backend='vmap'.*'sequential'"):
        make_trainer(model, 0.1, 4, backend="vmap")


def test_a_run_on_the_batched_backend_matches_the_sequential_run(monkeypatch):
    """End to end in float32 on Fashion-MNIST at lr 0.01: the same tables up to rounding."""
    config = flsim.Config(**{**TINY, "num_rounds": 1})
    monkeypatch.setenv("FLSIM_BACKEND", "sequential")
    sequential = flsim.run(config, cache=False)
    monkeypatch.setenv("FLSIM_BACKEND", "batched")
    batched = flsim.run(config, cache=False)
    pd.testing.assert_frame_equal(batched.rounds.drop(columns="seconds"), sequential.rounds.drop(columns="seconds"),
                                  check_exact=False, rtol=1e-4, atol=1e-6)
    pd.testing.assert_frame_equal(batched.updates, sequential.updates, check_exact=False, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("trainer_class", [FlatTrainer, BatchedTrainer])
def test_a_reused_round_buffer_gives_the_same_round(trainer_class):
    start, fresh = train_round(trainer_class)
    trainer = trainer_class(PaperCNN((1, 12, 12)).double(), lr=0.1, batch_size=8)
    buffer = torch.full((len(SIZES) + 2, start.numel()), float("nan"), dtype=start.dtype)
    for _ in range(2):  # the second round overwrites the first in place
        datasets, generators = round_inputs()
        reused = trainer.train_clients(start, datasets, 2, generators, out=buffer)
        assert reused.data_ptr() == buffer.data_ptr()
        torch.testing.assert_close(reused, fresh, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"out has shape \(2, "):
        trainer.train_clients(start, datasets, 2, generators, out=buffer[:2])
    with pytest.raises(ValueError, match="start shares memory with out"):  # Krum's pick of last round, say
        trainer.train_clients(buffer[-1], datasets, 2, generators, out=buffer)


@pytest.mark.parametrize("trainer_class", [FlatTrainer, BatchedTrainer])
def test_a_streamed_round_is_the_round_in_chunks_trained_in_two_buffers(trainer_class, monkeypatch, threads):
    start, whole = train_round(trainer_class)
    trainer = trainer_class(PaperCNN((1, 12, 12)).double(), lr=0.1, batch_size=8)
    per_client = trainer._estimate_bytes_per_client(torch.rand(1, 1, 12, 12, dtype=torch.float64)) \
        if trainer_class is BatchedTrainer else 0
    monkeypatch.setattr(train, "STREAM_CHUNK", 2)
    monkeypatch.setattr(train, "CPU_CHUNK_BYTES", 2 * per_client)
    threads(2)
    datasets, generators = round_inputs()
    rows, chunks, buffers, reader_threads = [], [], set(), []
    for clients, weights in trainer.stream_clients(start, datasets, 2, generators):
        rows.append(clients)
        chunks.append(weights.clone())  # overwritten two chunks later
        buffers.add(weights.untyped_storage().data_ptr())
        reader_threads.append(torch.get_num_threads())
    assert rows == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert len(buffers) == 1  # two chunks of models in one allocation, whatever the round's size
    torch.testing.assert_close(torch.cat(chunks), whole, rtol=0, atol=0 if trainer_class is FlatTrainer else 1e-12)
    # The workers train the next chunk while the caller reads one: the caller then gets one thread.
    assert reader_threads == ([1, 1, 2] if trainer_class is FlatTrainer else [2, 2, 2])
    assert torch.get_num_threads() == 2


def test_a_stream_left_early_gives_the_threads_back(threads, monkeypatch):
    monkeypatch.setattr(train, "STREAM_CHUNK", 2)
    threads(2)
    trainer = FlatTrainer(PaperCNN((1, 12, 12)).double(), lr=0.1, batch_size=8)
    datasets, generators = round_inputs()
    stream = trainer.stream_clients(trainer.weights.clone(), datasets, 1, generators)
    next(stream)
    assert torch.get_num_threads() == 1
    stream.close()
    assert torch.get_num_threads() == 2
