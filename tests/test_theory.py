import pytest
import torch
from torch.nn import functional as F

from flsim import theory


def test_closed_form_output_layer_gradients_equal_autograd():
    torch.manual_seed(0)
    a = torch.rand(32, 128, dtype=torch.float64)
    W = torch.randn(10, 128, dtype=torch.float64, requires_grad=True)
    b = torch.randn(10, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 10, (32,))
    F.cross_entropy(a @ W.T + b, y).backward()
    dW, db = theory.output_layer_gradients(a, W.detach(), b.detach(), y)
    assert torch.allclose(dW, W.grad) and torch.allclose(db, b.grad)


def test_output_bias_gradient_sums_to_zero_over_classes():
    torch.manual_seed(1)
    a, W, b = torch.rand(64, 16), torch.randn(10, 16), torch.randn(10)
    for y in (torch.randint(0, 10, (64,)), torch.full((64,), 2)):
        _, db = theory.output_layer_gradients(a, W, b, y)
        assert db.sum().abs() < 1e-6
        assert db.abs().sum() > 0.1


def test_predicted_bias_shift():
    # 4543 samples, r = 10, one attacker: 455 poisoned; 2 epochs at lr 0.01, batch 64, 10 clients.
    shift = theory.predicted_bias_shift(4543, 1, 10, 0.01, 64, 2, 10)
    assert shift == pytest.approx(0.01 * 2 * 455 / 64 * 0.9)
    # Twice the learning rate, twice the shift; with every client attacking, no deviation at all.
    assert theory.predicted_bias_shift(4543, 1, 10, 0.02, 64, 2, 10) == pytest.approx(2 * shift)
    assert theory.predicted_bias_shift(4543, 10, 1, 0.01, 64, 2, 10) == 0
