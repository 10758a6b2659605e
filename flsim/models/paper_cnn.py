"""The paper's CNN, for any input shape, initialised as the Keras original."""

from __future__ import annotations

import torch
from torch import nn


class PaperCNN(nn.Module):
    """conv1 -> conv2 -> max-pool -> fc1 -> fc2 (logits; softmax lives in the loss).

    Two 3x3 convolutions with 32 filters and same padding, 2x2 max-pooling,
    a dense layer of 128 units and a dense output layer; ReLU in between.
    Its SGD step is also written out by hand (:mod:`flsim.models.paper_cnn_sgd`).
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
