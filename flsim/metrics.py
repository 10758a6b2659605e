"""How far each client's model deviates from the others, per parameter tensor (chapter 3)."""

from __future__ import annotations

import torch

STATISTICS = ("max_abs_deviation", "l2_deviation", "cosine_to_mean")
ROW_CHUNK = 16  # clients whose statistics are computed together
COSINE_EPS = 1e-8  # torch.nn.functional.cosine_similarity's floor on the product of the lengths


def update_statistics(weights: torch.Tensor, global_weights: torch.Tensor, layers: dict[str, slice],
                      updates: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per client and layer: the paper's max |w_k - mean w|, its L2 norm, and the
    cosine between the client's update (w_k - global) and the mean update.

    ``weights`` is clients x parameters (``updates``: weights - global_weights, if
    already computed); each result is clients x layers, with layers in the order
    of ``layers``. Clients are taken ROW_CHUNK at a time, so
    their deviations and updates take a few models' worth of memory, not two
    rounds' worth (for 1000 paper-CNN clients, 12 GB of fresh memory to fault in).
    """
    def update_chunks():  # made chunk by chunk, each time, unless given
        if updates is not None:
            return updates.split(ROW_CHUNK)
        return (rows - global_weights for rows in weights.split(ROW_CHUNK))

    mean = weights.mean(0)
    # Summed from the updates: mean - global_weights would lose digits to cancellation.
    mean_update = sum(rows.sum(0) for rows in update_chunks()) / len(weights)
    chunks = {name: [] for name in STATISTICS}
    for rows, chunk_updates in zip(weights.split(ROW_CHUNK), update_chunks()):
        deviation = rows - mean
        columns = {name: [] for name in STATISTICS}
        for part in layers.values():
            d, u, m = deviation[:, part], chunk_updates[:, part], mean_update[part]
            columns["max_abs_deviation"].append(d.abs().amax(1))
            columns["l2_deviation"].append(d.norm(dim=1))
            columns["cosine_to_mean"].append(cosine_to(u, m))
        for name, values in columns.items():
            chunks[name].append(torch.stack(values, 1))
    return {name: torch.cat(values) for name, values in chunks.items()}


def cosine_to(rows: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """The cosine between each row and ``vector``, as torch.nn.functional.cosine_similarity
    but without its normalised copies of the rows."""
    lengths = torch.linalg.vector_norm(rows, dim=1) * torch.linalg.vector_norm(vector)
    return (rows @ vector) / lengths.clamp_min(COSINE_EPS)


def output_bias_deviation(weights: torch.Tensor, bias: slice) -> torch.Tensor:
    """Per client and class: b_k - mean over clients of b, for the output-layer bias."""
    b = weights[:, bias]
    return b - b.mean(0)
