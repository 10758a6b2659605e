"""How far each client's model deviates from the others, per parameter tensor (chapter 3)."""

from __future__ import annotations

import torch

STATISTICS = ("max_abs_deviation", "l2_deviation", "cosine_to_mean")


def update_statistics(weights: torch.Tensor, global_weights: torch.Tensor,
                      layers: dict[str, slice]) -> dict[str, torch.Tensor]:
    """Per client and layer: the paper's max |w_k - mean w|, its L2 norm, and the
    cosine between the client's update (w_k - global) and the mean update.

    ``weights`` is clients x parameters; each result is clients x layers, with
    layers in the order of ``layers``.
    """
    deviation = weights - weights.mean(0)
    updates = weights - global_weights
    mean_update = updates.mean(0)
    columns = {name: [] for name in STATISTICS}
    for part in layers.values():
        d, u, m = deviation[:, part], updates[:, part], mean_update[part]
        columns["max_abs_deviation"].append(d.abs().amax(1))
        columns["l2_deviation"].append(d.norm(dim=1))
        columns["cosine_to_mean"].append(torch.nn.functional.cosine_similarity(u, m[None], dim=1))
    return {name: torch.stack(values, 1) for name, values in columns.items()}


def output_bias_deviation(weights: torch.Tensor, bias: slice) -> torch.Tensor:
    """Per client and class: b_k - mean over clients of b, for the output-layer bias."""
    b = weights[:, bias]
    return b - b.mean(0)
