"""ResNet-8: the CIFAR ResNet of He et al. (CVPR 2016, section 4.2) with one block per stage.

3x3 convolution (16) -> three stages of one basic block each (16, 32, 64
filters; the last two halve the resolution, with a 1x1 convolution on the
shortcut) -> global average pooling -> ``fc``, the output layer. Every
convolution is followed by BatchNorm, whose running statistics flsim averages
with the weights (see :func:`flsim.register_model`). 6n + 2 = 8 weighted layers
for n = 1; ResNet-20 is n = 3 (``blocks=3``).
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, plus the input (projected when the shape changes), then ReLU."""

    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(channels_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet of 6 * ``blocks`` + 2 layers for any input shape."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int = 10, blocks: int = 1):
        super().__init__()
        channels = input_shape[0]
        self.conv1 = nn.Conv2d(channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, width = [], 16
        for out, stride in ((16, 1), (32, 2), (64, 2)):
            stages.append(nn.Sequential(*(BasicBlock(width if b == 0 else out, out, stride if b == 0 else 1)
                                          for b in range(blocks))))
            width = out
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The activations that feed the output layer."""
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet8(input_shape: tuple[int, int, int], num_classes: int = 10) -> ResNet:
    return ResNet(input_shape, num_classes, blocks=1)


def resnet20(input_shape: tuple[int, int, int], num_classes: int = 10) -> ResNet:
    return ResNet(input_shape, num_classes, blocks=3)
