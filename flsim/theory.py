"""The output layer's gradient in closed form, and the bias shift it predicts (chapter 1).

For logits z = W a + b, p = softmax(z) and cross-entropy with label y:
dL/db = p - onehot(y) and dL/dW = (p - onehot(y)) a^T.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .attacks import poison_positions


def output_layer_gradients(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                           labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form gradients of the batch-mean cross-entropy w.r.t. the output layer.

    ``features`` is N x H (the activations a), ``weight`` C x H, ``bias`` C.
    Returns (dL/dW, dL/db).
    """
    error = torch.softmax(features @ weight.T + bias, dim=1) - F.one_hot(labels, len(bias)).to(features.dtype)
    error = error / len(labels)
    return error.T @ features, error.sum(0)


def predicted_bias_shift(num_samples: int, num_malicious: int, malicious_data_rate: int, lr: float,
                         batch_size: int, local_epochs: int, num_chosen: int) -> float:
    """The target-class output-bias deviation of one attacker, predicted from first principles.

    Each poisoned sample adds lr / batch_size * (1 - p_target) to the target
    bias per epoch; while the backdoor is not yet learnt, p_target ~ 0, so the
    shift is lr * epochs * poisoned / batch_size. Benign samples move every
    client's bias alike, so they cancel in the deviation from the mean of
    ``num_chosen`` clients, except the attacker's own share 1 / num_chosen of
    the mean. With more attackers the mean moves too: their shares add up.
    """
    poisoned = len(poison_positions(num_samples, num_malicious, malicious_data_rate))
    shift = lr * local_epochs * poisoned / batch_size
    return shift * (1 - num_malicious / num_chosen)
