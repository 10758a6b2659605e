"""The paper CNN's SGD step with the backward pass written out, registered for :class:`flsim.models.PaperCNN`.

Bit for bit the step autograd and ``torch.optim.SGD`` take (the same kernels
in the same order; tests/test_models.py), and faster on CPU (benchmarks/README.md):
no graph is recorded, and the second ReLU runs after the pooling, on a quarter
of the values (max-pooling and ReLU commute, and so do their gradients, ties
included). Every other model takes the autograd step.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .paper_cnn import PaperCNN
from .registry import register_sgd_step

aten = torch.ops.aten


@torch.no_grad()
def sgd_step(model: PaperCNN, x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
    """One SGD step of ``model`` on the mean cross-entropy of (x, y)."""
    conv1, conv2, fc1, fc2 = model.conv1, model.conv2, model.fc1, model.fc2
    a1 = torch.relu_(conv1(x))
    z2 = conv2(a1)
    pooled, where = F.max_pool2d(z2, 2, return_indices=True)
    a2 = torch.relu_(pooled).flatten(1)
    h = torch.relu_(fc1(a2))
    log_p = torch.log_softmax(fc2(h), 1)

    # The gradients of F.cross_entropy's two kernels, in autograd's calls.
    mean = 1  # torch's Reduction::Mean
    g = aten.nll_loss_backward(torch.ones((), dtype=x.dtype, device=x.device), log_p, y, None, mean, -100,
                               torch.tensor(float(len(x)), dtype=x.dtype, device=x.device))
    g_logits = aten._log_softmax_backward_data(g, log_p, 1, log_p.dtype)
    g_h = aten.threshold_backward(g_logits @ fc2.weight, h, 0)
    g_a2 = aten.threshold_backward(g_h @ fc1.weight, a2, 0)  # on the flat copy, whose layout the gradient has
    g_pooled = torch.empty_like(pooled).copy_(g_a2.view_as(pooled))  # in the layout pooling's backward is fast in
    g_z2 = aten.max_pool2d_with_indices_backward(g_pooled, z2, [2, 2], [2, 2], [0, 0], [1, 1], False, where)
    same = dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], transposed=False, output_padding=[0, 0], groups=1)
    g_a1, g_w2, g_b2 = aten.convolution_backward(g_z2, a1, conv2.weight, [conv2.out_channels], **same,
                                                 output_mask=[True, True, True])
    g_z1 = aten.threshold_backward(g_a1, a1, 0)
    _, g_w1, g_b1 = aten.convolution_backward(g_z1, x, conv1.weight, [conv1.out_channels], **same,
                                              output_mask=[False, True, True])
    grads = [g_w1, g_b1, g_w2, g_b2, g_h.t() @ a2, g_h.sum(0), g_logits.t() @ h, g_logits.sum(0)]
    torch._foreach_add_(list(model.parameters()), grads, alpha=-lr)


register_sgd_step(PaperCNN, sgd_step)
