"""The paper's CNN, for any input shape, initialised as the Keras original."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

aten = torch.ops.aten


class PaperCNN(nn.Module):
    """conv1 -> conv2 -> max-pool -> fc1 -> fc2 (logits; softmax lives in the loss).

    Two 3x3 convolutions with 32 filters and same padding, 2x2 max-pooling,
    a dense layer of 128 units and a dense output layer; ReLU in between.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int = 10):
        super().__init__()
        channels, height, width = input_shape
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * (height // 2) * (width // 2), 128)
        self.fc2 = nn.Linear(128, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras' initialisers: He-uniform hidden layers, Glorot-uniform output, zero biases."""
        for layer in (self.conv1, self.conv2, self.fc1):
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")  # U(+-sqrt(6 / fan_in))
        nn.init.xavier_uniform_(self.fc2.weight)  # U(+-sqrt(6 / (fan_in + fan_out)))
        for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
            nn.init.zeros_(layer.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The activations a that feed the output layer (chapter 1)."""
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.flatten(torch.max_pool2d(x, 2), 1)
        return torch.relu(self.fc1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))

    @torch.no_grad()
    def sgd_step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
        """One SGD step on the mean cross-entropy of (x, y), with the backward pass written out.

        Bit for bit the step autograd and ``torch.optim.SGD`` take (the same
        kernels in the same order; tests/test_models.py), and faster on CPU
        (on Fashion-MNIST: 1.05x at batch 64 and 1.13x at batch 10 on one
        thread, 1.2x on two): no graph is recorded, and the second ReLU runs after
        the pooling, on a quarter of the values (max-pooling and ReLU commute,
        and so do their gradients, ties included).
        """
        conv1, conv2, fc1, fc2 = self.conv1, self.conv2, self.fc1, self.fc2
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
        torch._foreach_add_(list(self.parameters()), grads, alpha=-lr)
