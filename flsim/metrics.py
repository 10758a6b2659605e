"""How far each client's model deviates from the others, per parameter tensor (chapter 3)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

STATISTICS = ("max_abs_deviation", "l2_deviation", "cosine_to_mean", "max_abs_from_median")
ROW_CHUNK = 8  # clients whose statistics one job computes
COLUMN_CHUNK = 1 << 14  # parameters whose means over the clients one job computes
DEVIATION_FLOATS = 1 << 19  # deviations a job holds at once (2 MB, in a core's cache); at least one client's
COSINE_EPS = 1e-8  # torch.nn.functional.cosine_similarity's floor on the product of the lengths


def chunks(length: int, size: int) -> list[slice]:
    """0..length in slices of ``size`` (the last one shorter)."""
    return [slice(first, min(first + size, length)) for first in range(0, length, size)]


def update_statistics(weights: torch.Tensor, global_weights: torch.Tensor, layers: dict[str, slice],
                      updates: torch.Tensor | None = None, map: Callable = map,
                      median: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per client and layer: the paper's max |w_k - mean w|, its L2 norm, the
    cosine between the client's update (w_k - global) and the mean update, and,
    given the clients' coordinate-wise ``median`` (:func:`coordinate_median`),
    max |w_k - median w| (chapter 4).

    The mean includes every client, so when one client dominates a tensor the
    malicious/benign ratio of max |w_k - mean w| cannot exceed num_clients - 1;
    the median, which one client cannot drag along, leaves that ratio no ceiling.

    ``weights`` is clients x parameters (``updates``: weights - global_weights, if
    already computed); each result is clients x layers, with layers in the order
    of ``layers``. The work is cut into jobs of a fixed size, run by ``map`` (on
    worker threads, say: :meth:`flsim.train.FlatTrainer.map`): the means in
    COLUMN_CHUNK parameters, then the statistics ROW_CHUNK clients at a time (a
    wide tensor's deviations from the mean DEVIATION_FLOATS at a time, at least
    a client's, so that the reductions read them from the cache: the same bits),
    so the temporaries take a few models' worth of memory, not a round's, and
    the bits do not depend on how many threads run the jobs.
    """
    def means(columns: slice) -> tuple[torch.Tensor, torch.Tensor]:
        # Averaged from the updates: mean - global_weights would lose digits to cancellation.
        update = updates[:, columns] if updates is not None else weights[:, columns] - global_weights[columns]
        return weights[:, columns].mean(0), update.mean(0)

    mean, mean_update = (torch.cat(parts) for parts in zip(*map(means, chunks(weights.shape[1], COLUMN_CHUNK))))
    names = STATISTICS if median is not None else STATISTICS[:3]

    held = [(part, max(1, DEVIATION_FLOATS // max(1, part.stop - part.start))) for part in layers.values()]

    def statistics(rows: slice) -> torch.Tensor:  # ROW_CHUNK x layers x names
        chunk_weights = weights[rows]
        chunk_updates = updates[rows] if updates is not None else chunk_weights - global_weights
        clients = len(chunk_weights)
        buffer = chunk_weights.new_empty(max((min(few, clients) * (part.stop - part.start) for part, few in held),
                                             default=0))
        columns = []
        for part, few in held:
            found = []
            for these in chunks(clients, few):  # a wide tensor's deviations a client at a time, in cache
                own = chunk_weights[these, part]
                deviation = torch.sub(own, mean[part], out=buffer[:own.numel()].view(own.shape))
                # max(amax, -amin): faster than torch.aminmax or vector_norm(inf) on CPU
                largest = torch.maximum(deviation.amax(1), deviation.amin(1).neg_())
                found.append([largest, deviation.norm(dim=1)])
                if median is not None:
                    found[-1].append(torch.sub(own, median[part], out=deviation).abs_().amax(1))
            values = [torch.cat(value) for value in zip(*found)]
            values.insert(2, cosine_to(chunk_updates[:, part], mean_update[part]))
            columns.append(torch.stack(values, 1))
        return torch.stack(columns, 1)

    values = torch.cat(list(map(statistics, chunks(len(weights), ROW_CHUNK))))
    return {name: values[:, :, k].contiguous() for k, name in enumerate(names)}


def coordinate_median(weights: torch.Tensor, map: Callable = map) -> torch.Tensor:
    """The clients' median of every coordinate (of an even count, the mean of the two middle values),
    COLUMN_CHUNK coordinates a job, run by ``map`` (chapter 4's ratio from the median)."""
    return torch.cat(list(map(lambda columns: column_median(weights[:, columns]),
                              chunks(weights.shape[1], COLUMN_CHUNK))))


def column_median(block: torch.Tensor, network_rows: int = 16) -> torch.Tensor:
    """The median of each column (of an even count of rows, the mean of the middle two; chapter 4).

    Up to ``network_rows`` rows, a round's few clients, an odd-even transposition
    network of element-wise min and max sorts them. Above, the columns are copied
    contiguous and numpy's introselect puts each column's lower middle value in
    place with the larger values after it, whose least is the upper middle: work
    linear in the rows, where sorting the strided columns (torch.sort along
    dimension 0) grew faster. Both give the values torch.sort gives.
    """
    n = len(block)
    if n > network_rows and block.device.type == "cpu":
        lower = (n - 1) // 2
        columns = np.partition(block.T.contiguous().numpy(), lower, axis=1)
        low = columns[:, lower]
        return torch.from_numpy(low if n % 2 else (low + columns[:, lower + 1:].min(axis=1)) / 2)
    if n > network_rows:
        ordered = block.sort(0).values
        return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    rows = list(block)
    for start in range(len(rows)):
        for i in range(start % 2, len(rows) - 1, 2):
            rows[i], rows[i + 1] = torch.minimum(rows[i], rows[i + 1]), torch.maximum(rows[i], rows[i + 1])
    return (rows[(len(rows) - 1) // 2] + rows[len(rows) // 2]) / 2


def cosine_to(rows: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """The cosine between each row and ``vector``, as torch.nn.functional.cosine_similarity
    but without its normalised copies of the rows."""
    lengths = torch.linalg.vector_norm(rows, dim=1) * torch.linalg.vector_norm(vector)
    return (rows @ vector) / lengths.clamp_min(COSINE_EPS)


def output_bias_deviation(weights: torch.Tensor, bias: slice) -> torch.Tensor:
    """Per client and class: b_k - mean over clients of b, for the output-layer bias."""
    b = weights[:, bias]
    return b - b.mean(0)
