import copy
import math

import pytest
import torch
from torch.nn import functional as F

from flsim.models import PaperCNN
from flsim.models.paper_cnn_sgd import sgd_step


@pytest.mark.parametrize("shape, flat", [((1, 28, 28), 32 * 14 * 14), ((3, 32, 32), 32 * 16 * 16)])
def test_any_input_shape_and_layer_names(shape, flat):
    model = PaperCNN(shape)
    assert [n for n, _ in model.named_children()] == ["conv1", "conv2", "fc1", "fc2"]
    assert model.fc1.in_features == flat
    assert model(torch.rand(5, *shape)).shape == (5, 10)


def test_keras_initialisation():
    torch.manual_seed(0)
    model = PaperCNN((3, 32, 32))
    expected = {
        "conv1": math.sqrt(6 / (3 * 9)),                  # He-uniform: fan_in = in_channels * 3 * 3
        "conv2": math.sqrt(6 / (32 * 9)),
        "fc1": math.sqrt(6 / (32 * 16 * 16)),
        "fc2": math.sqrt(6 / (128 + 10)),                 # Glorot-uniform: fan_in + fan_out
    }
    for name, limit in expected.items():
        layer = getattr(model, name)
        w = layer.weight.detach()
        assert w.abs().max() <= limit
        assert w.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.15)  # std of U(-l, l)
        assert layer.bias.eq(0).all()


@pytest.mark.parametrize("shape, batch", [((1, 28, 28), 64), ((1, 28, 28), 1), ((3, 32, 32), 10), ((1, 9, 9), 7)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_written_out_sgd_step_is_autograds_bit_for_bit(shape, batch, channels_last):
    torch.manual_seed(0)
    model = PaperCNN(shape)
    x, y = torch.rand(batch, *shape), torch.randint(0, 10, (batch,))
    x[0, 0, :4, :4] = 0.5  # equal inputs: ties in the max-pooling windows
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    reference = copy.deepcopy(model)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(3):
        sgd_step(model, x, y, lr=0.1)
        optimizer.zero_grad()
        F.cross_entropy(reference(x), y).backward()
        optimizer.step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.equal(p, q), name
    assert not any(p.grad is not None for p in model.parameters())  # no graph, no .grad
