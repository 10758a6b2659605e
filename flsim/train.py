"""Round executors: a round's clients trained a client per core, or together (chapter 2).

:class:`FlatTrainer` trains a round's clients on worker threads, each thread
with its own :class:`flsim.flat.FlatModel` and one intra-op thread: a batch of
10 or 64 images keeps one core busier than it keeps two, and a client's weights
are then the same bits whatever the number of cores. :class:`BatchedTrainer`
trains many clients at once with ``torch.func`` (``vmap`` over stacked
parameters), the fast path on a GPU. Both take each client's batches in the
same order, so they agree up to float rounding; :func:`make_trainer` picks one.
Either trains a round into one clients x parameters matrix, or, for rounds too
large to hold, streams it in chunks of clients
(:meth:`FlatTrainer.stream_clients`, ``Config.record = "rounds"``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from .flat import FlatModel, round_matrix
from .models import has_float_buffers
from .workers import WorkerPool, intra_op_threads

EVAL_BATCH = 128  # small batches keep activations in cache: faster than large ones on CPU
BACKENDS = ("auto", "sequential", "batched")
CPU_CHUNK_BYTES = 1 << 30  # the batched backend's working memory on CPU
# ... and on CUDA: a fixed budget, not the memory free at the time, so a config trains in the same
# chunks (the same bits) on every GPU that holds it; 4 GiB fits a free Colab T4 (15 GB)
CUDA_CHUNK_BYTES = 4 << 30
STREAM_CHUNK = 8  # clients per chunk of a streamed round (sequential backend): 26 MB of paper-CNN models


def _round_rows(out: torch.Tensor | None, clients: int, start: torch.Tensor) -> torch.Tensor:
    if out is None:
        return round_matrix(clients, start)
    if out.shape[0] < clients or out.shape[1:] != start.shape:
        raise ValueError(f"out has shape {tuple(out.shape)}; a round of {clients} clients needs at least "
                         f"({clients}, {start.numel()})")
    if start.untyped_storage().data_ptr() == out.untyped_storage().data_ptr():
        raise ValueError("start shares memory with out, which the round overwrites; pass start.clone()")
    return out[:clients]


class FlatTrainer(FlatModel):
    """Trains and evaluates ``model`` from flat weight vectors (:class:`flsim.flat.FlatModel`), a round's
    clients shared out among ``workers`` CPU threads (None: torch's thread count at each round)."""

    backend = "sequential"

    def __init__(self, model: nn.Module, lr: float, batch_size: int, workers: int | None = None,
                 output_layer: str | None = None):
        super().__init__(model, lr, batch_size, output_layer)
        self.workers = workers
        self._replicas = threading.local()
        self._pool: WorkerPool | None = None

    def train_clients(self, start: torch.Tensor, datasets: list[tuple[torch.Tensor, torch.Tensor]],
                      epochs: int, generators: list[torch.Generator], out: torch.Tensor | None = None) -> torch.Tensor:
        """A round: each client's weights after local training from ``start`` (clients x parameters).

        Trains in the first rows of ``out`` if given (a buffer reused round after
        round, see :func:`flsim.flat.round_matrix`; ``start`` must not share its memory),
        else in a new matrix. On CPU every client trains on one thread, the
        round's clients shared out among the worker threads.
        """
        weights = _round_rows(out, len(datasets), start)
        if start.device.type != "cpu":
            for row, (x, y), generator in zip(weights, datasets, generators):
                self.train(start, x, y, epochs, generator, out=row)
            return weights
        return self._start_on_workers(start, datasets, epochs, generators, weights, self.pool())()

    def _worker_count(self) -> int:
        return self.workers or torch.get_num_threads()

    def pool(self) -> WorkerPool:
        """The worker threads (made again when the thread count changed)."""
        threads = self._worker_count()
        if self._pool is None or self._pool.threads != threads:
            if self._pool is not None:
                self._pool.shutdown()
            self._pool = WorkerPool(threads)
        return self._pool

    def map(self, job: Callable, items: Iterable) -> list:
        """``list(map(job, items))``, on the worker threads on CPU: how a round's analysis is shared out
        (the results are the same bits as one thread's)."""
        if self.weights.device.type != "cpu" or self._worker_count() == 1:
            return list(map(job, items))
        return self.pool().map(job, items)

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
        threads, pool = torch.get_num_threads(), self.pool()  # before the caller's threads drop to one

        def queue(k: int) -> Callable[[], torch.Tensor]:
            """Starts chunk k's training (CPU) or defers it; the function returned waits for its weights."""
            rows = chunks[k]
            job = start, datasets[rows], epochs, generators[rows], buffers[k % 2][:rows.stop - rows.start]
            if on_workers:
                return self._start_on_workers(*job, pool)
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
                          pool: WorkerPool) -> Callable[[], torch.Tensor]:
        """Queues the clients on ``pool``'s threads, each client trained in its row of ``out`` by the
        thread's own model; the function returned waits for them and returns ``out``."""
        def train_one(job: tuple) -> torch.Tensor:
            row, (x, y), generator = job
            return self._replica().train(start, x, y, epochs, generator, out=row)

        trained = pool.start(train_one, zip(out, datasets, generators))

        def wait() -> torch.Tensor:
            trained()
            return out

        return wait

    def _replica(self) -> FlatModel:
        """This thread's own model (a copy, made once per thread), with the trainer's SGD settings."""
        replica = getattr(self._replicas, "model", None)
        if replica is None:
            replica = self._replicas.model = FlatModel(copy.deepcopy(self.model), self.lr, self.batch_size,
                                                       output_layer=self.layers.output_layer)
        replica.lr, replica.batch_size = self.lr, self.batch_size
        return replica

    def evaluate(self, weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Accuracy and mean cross-entropy of ``weights`` on (x, y).

        Batches of EVAL_BATCH, each on one thread (on CPU, shared out among
        the worker threads), summed in order: the same bits at any thread count.
        """
        batches = [slice(start, start + EVAL_BATCH) for start in range(0, len(x), EVAL_BATCH)]
        if x.device.type == "cpu" and self._worker_count() > 1 and len(batches) > 1:
            scores = self.pool().map(lambda rows: self._replica().score(weights, x[rows], y[rows]), batches)
        else:
            scores = [self.score(weights, x[rows], y[rows]) for rows in batches]
        correct, loss = 0, 0.0
        for batch_correct, batch_loss in scores:
            correct += batch_correct
            loss += batch_loss
        return correct / len(x), loss / len(x)


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
        """Each client's batches, as positions in the chunk's concatenated data; -1 pads. Made on the CPU,
        where the batch-order generators draw, and moved by the caller.

        The generator calls are those of :meth:`flsim.flat.FlatModel.train`, so every
        client sees the same batches in the same order.
        """
        rows, offset = [], 0
        for (x, _), generator in zip(datasets, generators):
            n = len(x)
            batches = -(-n // self.batch_size)
            client = torch.full((epochs, batches * self.batch_size), -1, dtype=torch.int64, device="cpu")
            for epoch in range(epochs):
                client[epoch, :n] = torch.randperm(n, generator=generator) + offset
            rows.append(client.view(epochs * batches, self.batch_size))
            offset += n
        steps = max(len(r) for r in rows)
        padded = torch.full((steps, len(rows), self.batch_size), -1, dtype=torch.int64, device="cpu")
        for k, r in enumerate(rows):
            padded[:len(r), k] = r
        return padded

    def stream_chunk(self, datasets) -> int:
        """As many clients as train together (:meth:`chunk_size`); they train when their chunk is asked for."""
        return self.chunk_size(datasets)

    def chunk_size(self, datasets) -> int:
        """How many clients train together: as many as CUDA_CHUNK_BYTES (CPU_CHUNK_BYTES on a CPU) hold."""
        x = datasets[0][0]
        if self._bytes_per_client is None:
            self._bytes_per_client = self._estimate_bytes_per_client(x)
        budget = CUDA_CHUNK_BYTES if x.device.type == "cuda" else CPU_CHUNK_BYTES
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


def backend_name(device: torch.device | str, backend: str | None = None, buffers: bool = False) -> str:
    """The backend a trainer on ``device`` uses: ``backend``, else ``$FLSIM_BACKEND``, else "auto", which
    is "batched" on CUDA and "sequential" on a CPU (a client per core) or for a model with floating-point
    buffers (``buffers``: BatchNorm's statistics, which the batched backend does not train). Never
    chosen by timing: the backend is part of a result's cache key."""
    name = "backend" if backend else "FLSIM_BACKEND"
    backend = backend or os.environ.get("FLSIM_BACKEND") or "auto"
    if backend not in BACKENDS:
        raise ValueError(f"{name}={backend!r} is not allowed; choose one of {', '.join(map(repr, BACKENDS))}")
    if backend != "auto":
        return backend
    return "batched" if torch.device(device).type == "cuda" and not buffers else "sequential"


def make_trainer(model: nn.Module, lr: float, batch_size: int, backend: str | None = None,
                 workers: int | None = None, output_layer: str | None = None) -> FlatTrainer:
    """The trainer for ``backend`` (see :func:`backend_name`): "sequential", "batched" or "auto".

    The sequential trainer trains a client per core on a CPU (``workers`` threads; None: torch's
    thread count at each round). ``output_layer``: see :class:`flsim.flat.FlatModel`.
    """
    name = backend_name(next(model.parameters()).device, backend, has_float_buffers(model))
    trainer = {"sequential": FlatTrainer, "batched": BatchedTrainer}[name]
    return trainer(model, lr, batch_size, workers, output_layer)


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """Runs the block with CUDA's reduced-precision shortcuts off (TF32 matmuls and convolutions) and
    cuDNN's deterministic algorithms on, then restores the settings: a config's cache key then means
    one result on a GPU (:meth:`flsim.config.Config.key` records it). Nothing changes on a CPU."""
    cuda, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = cuda.allow_tf32, cudnn.allow_tf32, cudnn.benchmark, cudnn.deterministic
    cuda.allow_tf32, cudnn.allow_tf32, cudnn.benchmark, cudnn.deterministic = False, False, False, True
    try:
        yield
    finally:
        cuda.allow_tf32, cudnn.allow_tf32, cudnn.benchmark, cudnn.deterministic = before
