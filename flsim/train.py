"""Local training with plain SGD: a client per core, or a round's clients together (chapter 2).

:class:`FlatTrainer` trains reusable models from flat weight vectors, so
loading the global weights, an SGD step and reading a client's result are each
a few tensor operations, and no model is copied per client; on CPU it trains
as many clients at once as torch has threads, each client on one thread.
:class:`BatchedTrainer` trains many clients at once with ``torch.func``
(``vmap`` over stacked parameters), the fast path on a GPU. Both take each
client's batches in the same order, so they agree up to float rounding;
:func:`make_trainer` picks one. Either trains a round into one clients x
parameters matrix, or, for rounds too large to hold, streams it in chunks of
clients (:meth:`FlatTrainer.stream_clients`, ``Config.record = "rounds"``).

What makes the CPU round fast (benchmarks/README.md): a model's written-out
SGD step where one is registered (:mod:`flsim.models.paper_cnn_sgd`: no
autograd graph); convolution weights kept channels-last, the layout oneDNN's
kernels want; glibc told to keep freed memory (otherwise every step
page-faults its activations in afresh); and a client per core, since a batch
of 10 or 64 images keeps one core busier than it keeps two.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from .layout import Layers, flat_tensors
from .models import output_layer_of, sgd_step_for

EVAL_BATCH = 128  # small batches keep activations in cache: faster than large ones on CPU
BACKENDS = ("auto", "sequential", "batched")
CPU_CHUNK_BYTES = 1 << 30  # the batched backend's working memory on CPU
STREAM_CHUNK = 8  # clients per chunk of a streamed round (sequential backend): 26 MB of paper-CNN models


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


def _round_rows(out: torch.Tensor | None, clients: int, start: torch.Tensor) -> torch.Tensor:
    if out is None:
        return round_matrix(clients, start)
    if out.shape[0] < clients or out.shape[1:] != start.shape:
        raise ValueError(f"out has shape {tuple(out.shape)}; a round of {clients} clients needs at least "
                         f"({clients}, {start.numel()})")
    if start.untyped_storage().data_ptr() == out.untyped_storage().data_ptr():
        raise ValueError("start shares memory with out, which the round overwrites; pass start.clone()")
    return out[:clients]


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Runs the block with ``count`` torch intra-op threads in this thread, then restores the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _copied(tensor: torch.Tensor) -> bool:
    """Whether a model's tensor is a copy of its part of the flat weights (not a view): a channels-last
    convolution weight, or a buffer."""
    return not isinstance(tensor, nn.Parameter) or tensor.dim() == 4


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class FlatTrainer:
    """Trains and evaluates ``model`` from flat weight vectors, one client at a time.

    A flat vector holds every floating-point tensor of the model's state dict
    (parameters, and buffers such as BatchNorm's running statistics), in its
    order and layout; ``layers`` (:class:`flsim.layout.Layers`) names each
    tensor's slice and the output layer (``output_layer``; None: the model's
    last ``nn.Linear``). The model's tensors are views into the vector being
    trained (``weights``), so a client trains in place in its row of the
    round's weights. 4-D (convolution) weights train in their own channels-last
    tensors, and buffers in the model's own (BatchNorm updates its running
    statistics in place, which must not touch the memory the parameters'
    gradients are computed from): both are copied in and out once per client. SGD steps the parameters; the model's own
    written-out step if one is registered for its class
    (:func:`flsim.models.register_sgd_step`), else autograd's.
    """

    backend = "sequential"

    def __init__(self, model: nn.Module, lr: float, batch_size: int, workers: int | None = None,
                 output_layer: str | None = None):
        keep_freed_memory()
        self.model = model
        self.lr = lr
        self.batch_size = batch_size
        self.workers = workers  # CPU threads a round's clients share; None: torch.get_num_threads() at the round
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
        self._replicas = threading.local()
        self._pool: tuple[int, ThreadPoolExecutor] | None = None

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
        grads = torch.autograd.grad(F.cross_entropy(self.model(_channels_last(x)), y), self.params)
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
            xs, ys = _channels_last(x[order]), y[order]
            for i in range(0, len(x), self.batch_size):
                self._step(xs[i:i + self.batch_size], ys[i:i + self.batch_size])
        self._store()
        return self.weights

    def train_clients(self, start: torch.Tensor, datasets: list[tuple[torch.Tensor, torch.Tensor]],
                      epochs: int, generators: list[torch.Generator], out: torch.Tensor | None = None) -> torch.Tensor:
        """A round: each client's weights after local training from ``start`` (clients x parameters).

        Trains in the first rows of ``out`` if given (a buffer reused round after
        round, see :func:`round_matrix`; ``start`` must not share its memory),
        else in a new matrix.

        On CPU every client trains on one thread, and the round's clients are
        shared out among ``workers`` threads (the constructor's argument), each
        with its own model: a small batch keeps one core busier than it keeps
        two, and a client's result does not depend on how many cores the
        machine has.
        """
        weights = _round_rows(out, len(datasets), start)
        if start.device.type != "cpu":
            for row, (x, y), generator in zip(weights, datasets, generators):
                self.train(start, x, y, epochs, generator, out=row)
            return weights
        return self._start_on_workers(start, datasets, epochs, generators, weights, self._worker_count())()

    def _worker_count(self) -> int:
        return self.workers or torch.get_num_threads()

    def stream_clients(self, start: torch.Tensor, datasets: list[tuple[torch.Tensor, torch.Tensor]], epochs: int,
                       generators: list[torch.Generator]) -> Iterator[tuple[slice, torch.Tensor]]:
        """A round in chunks of :meth:`stream_chunk` clients, for rounds too large to hold: yields
        (the chunk's clients, their weights after local training), in order.

        Two chunk buffers take turns, so a round of any size holds two chunks
        of models; a chunk's weights are overwritten two chunks later. On CPU
        the next chunk trains on the worker threads while the caller reads the
        last, and the caller's torch operations meanwhile run on one thread
        (two threads competing for a core with the workers would spin-wait).
        """
        if not datasets:
            return
        size = self.stream_chunk(datasets)
        buffers = round_matrix(min(2 * size, len(datasets)), start).split(size)
        chunks = [slice(first, min(first + size, len(datasets))) for first in range(0, len(datasets), size)]
        on_workers = start.device.type == "cpu" and self.backend == "sequential"
        threads, workers = torch.get_num_threads(), self._worker_count()

        def queue(k: int) -> Callable[[], torch.Tensor]:
            """Starts chunk k's training (CPU) or defers it; the function returned waits for its weights."""
            rows = chunks[k]
            job = start, datasets[rows], epochs, generators[rows], buffers[k % 2][:rows.stop - rows.start]
            if on_workers:
                return self._start_on_workers(*job, workers)
            return functools.partial(self.train_clients, *job[:4], out=job[4])

        queued = queue(0)
        for k, rows in enumerate(chunks):
            trained, queued = queued, queue(k + 1) if k + 1 < len(chunks) else None
            weights = trained()
            with intra_op_threads(1 if on_workers and queued else threads):
                yield rows, weights

    def stream_chunk(self, datasets: list[tuple[torch.Tensor, torch.Tensor]]) -> int:
        """Clients per chunk of a streamed round: a constant, so that results do not depend on the machine."""
        return STREAM_CHUNK

    def _start_on_workers(self, start: torch.Tensor, datasets: list[tuple[torch.Tensor, torch.Tensor]], epochs: int,
                          generators: list[torch.Generator], out: torch.Tensor,
                          threads: int) -> Callable[[], torch.Tensor]:
        """Queues the clients on ``threads`` worker threads, each client trained in its row of ``out`` by the
        thread's own model on one intra-op thread; the function returned waits for them and returns ``out``."""
        def train_one(row: torch.Tensor, data: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator):
            return self._replica().train(start, *data, epochs, generator, out=row)

        trained = self._on_workers(threads, train_one, zip(out, datasets, generators))

        def wait() -> torch.Tensor:
            trained()
            return out

        return wait

    def _on_workers(self, threads: int, job: Callable, arguments) -> Callable[[], list]:
        """Starts ``job(*args)`` for each of ``arguments`` on ``threads`` worker threads; the function
        returned waits for them and returns their results in order (re-raising the first error)."""
        caller = torch.get_num_threads()
        if self._pool is None or self._pool[0] != threads:
            if self._pool is not None:
                self._pool[1].shutdown()  # the thread count changed: its idle workers go
            self._pool = threads, ThreadPoolExecutor(threads, thread_name_prefix="flsim-client")
        futures = [self._pool[1].submit(job, *args) for args in arguments]

        def wait() -> list:
            try:
                return [future.result() for future in futures]
            finally:
                for future in futures:
                    future.cancel()  # after an error: the jobs not yet started
                torch.set_num_threads(caller)  # a new worker's set_num_threads(1) also set the default for new threads

        return wait

    def _replica(self) -> FlatTrainer:
        """This thread's own single-threaded trainer, on a copy of the model (made once per thread)."""
        replica = getattr(self._replicas, "trainer", None)
        if replica is None:
            torch.set_num_threads(1)
            replica = self._replicas.trainer = FlatTrainer(copy.deepcopy(self.model), self.lr, self.batch_size,
                                                           output_layer=self.layers.output_layer)
        replica.lr, replica.batch_size = self.lr, self.batch_size
        return replica

    def evaluate(self, weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Accuracy and mean cross-entropy of ``weights`` on (x, y).

        Batches of EVAL_BATCH, each on one thread (on CPU, shared out among
        the ``workers`` threads), summed in order: the same bits at any thread count.
        """
        batches = [slice(start, start + EVAL_BATCH) for start in range(0, len(x), EVAL_BATCH)]
        if x.device.type == "cpu" and self._worker_count() > 1 and len(batches) > 1:
            def score(rows: slice) -> tuple[int, float]:
                return self._replica()._score(weights, x[rows], y[rows])

            scores = self._on_workers(self._worker_count(), score, ((rows,) for rows in batches))()
        else:
            scores = [self._score(weights, x[rows], y[rows]) for rows in batches]
        correct, loss = 0, 0.0
        for batch_correct, batch_loss in scores:
            correct += batch_correct
            loss += batch_loss
        return correct / len(x), loss / len(x)

    @torch.inference_mode()
    def _score(self, weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[int, float]:
        """The correct predictions and the summed cross-entropy of ``weights`` on one batch."""
        self.load(weights)
        self.model.eval()
        logits = self.model(_channels_last(x))
        return (logits.argmax(1) == y).sum().item(), F.cross_entropy(logits, y, reduction="sum").item()


class BatchedTrainer(FlatTrainer):
    """Trains a round's clients together: one vmapped SGD step advances every client of a chunk.

    Client k's parameters are row k of a clients x parameters matrix. Step s
    takes batch s of every client at once; clients with fewer or smaller
    batches are padded, and a mask gives the padding zero weight, so each
    client's step is its own minibatch mean, as in :class:`FlatTrainer`.
    Chunks of clients are sized to the device's free memory.
    """

    backend = "batched"

    def __init__(self, model: nn.Module, lr: float, batch_size: int, workers: int | None = None,
                 output_layer: str | None = None):
        super().__init__(model, lr, batch_size, workers, output_layer)
        if self.has_buffers:
            raise ValueError(f"the batched backend trains parameters only, and {type(model).__name__} has buffers "
                             "(BatchNorm's running statistics, say): use backend='sequential'")
        self.shapes = {name: p.shape for name, p in model.named_parameters()}
        self._client_grads = vmap(grad(self._loss))
        self._bytes_per_client: int | None = None

    def _loss(self, params: dict, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        losses = F.cross_entropy(functional_call(self.model, params, (x,)), y, reduction="none")
        return (losses * mask).sum() / mask.sum().clamp(min=1)

    def train_clients(self, start, datasets, epochs, generators, out=None):
        weights = _round_rows(out, len(datasets), start)
        size = self.chunk_size(datasets)
        self.model.train()
        for first in range(0, len(datasets), size):
            chunk = slice(first, first + size)
            self._train_chunk(weights[chunk], start, datasets[chunk], epochs, generators[chunk])
        return weights

    def _train_chunk(self, weights, start, datasets, epochs, generators) -> None:
        weights.copy_(start.expand_as(weights))
        params = {name: weights[:, part].view(len(weights), *self.shapes[name])
                  for name, part in self.layers.items()}
        x = torch.cat([x for x, _ in datasets])
        y = torch.cat([y for _, y in datasets])
        positions = self._positions(datasets, epochs, generators).to(x.device)  # steps x clients x batch
        mask = (positions >= 0).to(x.dtype)
        positions = positions.clamp(min=0)
        with torch.no_grad():
            for s in range(len(positions)):
                grads = self._client_grads(params, x[positions[s]], y[positions[s]], mask[s])
                torch._foreach_add_(list(params.values()), list(grads.values()), alpha=-self.lr)

    def _positions(self, datasets, epochs, generators) -> torch.Tensor:
        """Each client's batches, as positions in the chunk's concatenated data; -1 pads.

        The generator calls are those of :meth:`FlatTrainer.train`, so every
        client sees the same batches in the same order.
        """
        rows, offset = [], 0
        for (x, _), generator in zip(datasets, generators):
            n = len(x)
            batches = -(-n // self.batch_size)
            client = torch.full((epochs, batches * self.batch_size), -1, dtype=torch.int64)
            for epoch in range(epochs):
                client[epoch, :n] = torch.randperm(n, generator=generator) + offset
            rows.append(client.view(epochs * batches, self.batch_size))
            offset += n
        steps = max(len(r) for r in rows)
        padded = torch.full((steps, len(rows), self.batch_size), -1, dtype=torch.int64)
        for k, r in enumerate(rows):
            padded[:len(r), k] = r
        return padded

    def stream_chunk(self, datasets) -> int:
        """As many clients as train together (:meth:`chunk_size`); they train when their chunk is asked for."""
        return self.chunk_size(datasets)

    def chunk_size(self, datasets) -> int:
        """How many clients train together: half the free GPU memory, or CPU_CHUNK_BYTES."""
        x = datasets[0][0]
        if self._bytes_per_client is None:
            self._bytes_per_client = self._estimate_bytes_per_client(x)
        if x.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(x.device)
            budget = free // 2
        else:
            budget = CPU_CHUNK_BYTES
        return max(1, min(len(datasets), budget // self._bytes_per_client))

    def _estimate_bytes_per_client(self, x: torch.Tensor) -> int:
        """Parameters, gradients and optimizer temporaries, plus a batch's activations.

        The activations are counted from one sample's forward pass (every
        module's output) and tripled: saved inputs, their gradients, and the
        functional ReLUs and pooling between modules.
        """
        sizes = []
        hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.numel()))
                 for m in self.model.modules() if not list(m.children())]
        try:
            with torch.no_grad():
                self.model(x[:1])
        finally:
            for h in hooks:
                h.remove()
        elements = 4 * self.weights.numel() + 3 * self.batch_size * sum(sizes)
        return elements * self.weights.element_size()


def backend_name(device: torch.device | str, backend: str | None = None) -> str:
    """The backend a trainer on ``device`` uses: ``backend``, else ``$FLSIM_BACKEND``, else "auto",
    which is "sequential" on CPU (on CUDA it stays "auto": timed on the first round)."""
    name = "backend" if backend else "FLSIM_BACKEND"
    backend = backend or os.environ.get("FLSIM_BACKEND") or "auto"
    if backend not in BACKENDS:
        raise ValueError(f"{name}={backend!r} is not allowed; choose one of {', '.join(map(repr, BACKENDS))}")
    return "sequential" if backend == "auto" and torch.device(device).type != "cuda" else backend


def make_trainer(model: nn.Module, lr: float, batch_size: int, backend: str | None = None,
                 workers: int | None = None, output_layer: str | None = None) -> FlatTrainer:
    """The trainer for ``backend`` (see :func:`backend_name`): "sequential", "batched" or "auto".

    "auto" is sequential on CPU, where it trains a client per core (``workers``
    threads; None: torch's thread count at each round), and for models with
    buffers (BatchNorm); on CUDA it is otherwise the faster of the two, timed
    on the first round. ``output_layer``: see :class:`FlatTrainer`.
    """
    name = backend_name(next(model.parameters()).device, backend)
    if name == "auto" and any(t.is_floating_point() for t in model.buffers()):
        name = "sequential"  # the batched backend trains parameters only
    trainer = {"sequential": FlatTrainer, "batched": BatchedTrainer, "auto": AutoTrainer}[name]
    return trainer(model, lr, batch_size, workers, output_layer)


class AutoTrainer(BatchedTrainer):
    """On the first round, times a few steps of both backends and keeps the faster (CUDA)."""

    def __init__(self, model: nn.Module, lr: float, batch_size: int, workers: int | None = None,
                 output_layer: str | None = None):
        super().__init__(model, lr, batch_size, workers, output_layer)
        self.backend = None

    def train_clients(self, start, datasets, epochs, generators, out=None):
        if self.backend is None:
            self.backend = self._faster_backend(start, datasets)
        train = BatchedTrainer.train_clients if self.backend == "batched" else FlatTrainer.train_clients
        return train(self, start, datasets, epochs, generators, out)

    def _faster_backend(self, start, datasets, steps: int = 3) -> str:
        """Seconds per client-step of each backend, on the first client's data, replicated."""
        x, y = datasets[0]
        if len(datasets) == 1 or len(x) == 0:
            return "sequential"
        clients = min(len(datasets), self.chunk_size(datasets))
        probe = [(x[:self.batch_size], y[:self.batch_size])] * clients
        timings = {}
        for name, train, k in (("sequential", FlatTrainer.train_clients, 1),
                               ("batched", BatchedTrainer.train_clients, clients)):
            for attempt in ("warm-up", "timed"):
                begin = time.perf_counter()
                train(self, start, probe[:k], steps, [torch.Generator().manual_seed(0) for _ in range(k)])
                if x.device.type == "cuda":
                    torch.cuda.synchronize(x.device)
            timings[name] = (time.perf_counter() - begin) / k
        return min(timings, key=timings.get)
