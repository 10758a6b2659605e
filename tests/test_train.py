import copy

import pytest
import torch
from torch.nn import functional as F

from flsim.models import PaperCNN
from flsim.train import FlatTrainer


def small_mlp():
    """A model without a written-out ``sgd_step``: the trainer falls back to autograd."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))


@pytest.mark.parametrize("make_model", [lambda: PaperCNN((1, 12, 12)), small_mlp], ids=["PaperCNN", "autograd"])
def test_flat_sgd_equals_torch_sgd(make_model):
    torch.manual_seed(0)
    model = make_model()
    reference = copy.deepcopy(model)
    trainer = FlatTrainer(model, lr=0.1, batch_size=8)
    x, y = torch.rand(20, 1, 12, 12), torch.randint(0, 10, (20,))
    start = trainer.weights.clone()
    trained = trainer.train(start, x, y, epochs=2, generator=torch.Generator().manual_seed(5))

    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(5)
    for _ in range(2):
        for batch in torch.randperm(20, generator=generator).split(8):
            optimizer.zero_grad()
            F.cross_entropy(reference(x[batch]), y[batch]).backward()
            optimizer.step()
    expected = torch.cat([p.detach().reshape(-1) for p in reference.parameters()])
    assert torch.allclose(trained, expected, atol=1e-6)
    assert list(trainer.layers) == [n for n, _ in reference.named_parameters()]


def test_training_starts_from_the_given_weights_and_evaluates():
    torch.manual_seed(0)
    trainer = FlatTrainer(PaperCNN((1, 8, 8)), lr=0.5, batch_size=4)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    start = trainer.weights.clone()
    first = trainer.train(start, x, y, 1, torch.Generator().manual_seed(0))
    again = trainer.train(start, x, y, 1, torch.Generator().manual_seed(0))
    assert torch.equal(first, again) and not torch.equal(first, start)
    accuracy, loss = trainer.evaluate(start, x, y)
    assert 0 <= accuracy <= 1 and abs(loss - torch.log(torch.tensor(10.0)).item()) < 0.5
    # Empty local data leaves the weights as they were.
    assert torch.equal(trainer.train(start, x[:0], y[:0], 1, torch.Generator()), start)
