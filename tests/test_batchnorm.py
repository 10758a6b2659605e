"""Models with BatchNorm: running statistics travel in the flat weights, FedAvg averages them, eval mode uses them."""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import flsim
from flsim import models
from flsim.aggregators import fedavg
from flsim.layout import load_flat
from flsim.train import BatchedTrainer, FlatTrainer, make_trainer

from .conftest import TINY


def resnet(shape=(1, 12, 12)):
    torch.manual_seed(0)
    return models.resnet8(shape, 10)


def data(seed, n=24, shape=(1, 12, 12)):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def test_running_statistics_are_part_of_the_flat_weights():
    trainer = FlatTrainer(resnet(), lr=0.1, batch_size=8)
    assert trainer.layers.output_layer == "fc" and trainer.has_buffers
    assert {"bn1.running_mean", "bn1.running_var", "layer2.0.shortcut.1.running_var"} <= set(trainer.layers)
    assert not any(name.endswith("num_batches_tracked") for name in trainer.layers)
    assert list(trainer.layers)[-2:] == ["fc.weight", "fc.bias"]
    start = trainer.weights.clone()
    trained = trainer.train(start, *data(1), epochs=1, generator=torch.Generator().manual_seed(0))
    mean = trainer.layers["bn1.running_mean"]
    assert torch.equal(start[mean], torch.zeros_like(start[mean]))  # start is left as it was
    assert not torch.equal(trained[mean], start[mean])  # the client's running statistics moved


def test_the_flat_trainer_steps_as_a_plain_torch_loop():
    model = resnet()
    reference = copy.deepcopy(model)
    trainer = FlatTrainer(model, lr=0.1, batch_size=8)
    x, y = data(2)
    trained = trainer.train(trainer.weights.clone(), x, y, epochs=2, generator=torch.Generator().manual_seed(3))
    generator, optimizer = torch.Generator().manual_seed(3), torch.optim.SGD(reference.parameters(), lr=0.1)
    reference.train()
    for _ in range(2):
        order = torch.randperm(len(x), generator=generator)
        for batch in order.split(8):
            optimizer.zero_grad()
            F.cross_entropy(reference(x[batch]), y[batch]).backward()
            optimizer.step()
    expected = torch.cat([t.detach().reshape(-1) for t in flsim.layout.flat_tensors(reference).values()])
    torch.testing.assert_close(trained, expected, rtol=1e-4, atol=1e-5)  # channels-last kernels round otherwise


def test_fedavg_averages_the_running_statistics_and_evaluation_uses_them():
    trainer = FlatTrainer(resnet(), lr=0.1, batch_size=8)
    start = trainer.weights.clone()
    rows = torch.stack([trainer.train(start, *data(seed), 1, torch.Generator().manual_seed(seed))
                        for seed in (4, 5)])
    averaged = fedavg(rows)
    for name in ("bn1.running_mean", "bn1.running_var"):
        part = trainer.layers[name]
        assert torch.equal(averaged[part], (rows[0, part] + rows[1, part]) / 2)  # the mean of the clients'
    model = load_flat(resnet(), averaged).eval()
    assert torch.equal(model.bn1.running_var, averaged[trainer.layers["bn1.running_var"]].view(-1))
    x, y = data(6)
    with torch.no_grad():
        eval_loss = F.cross_entropy(model(x), y).item()
        batch_loss = F.cross_entropy(model.train()(x), y).item()  # normalised by the batch's own statistics
    _, loss = trainer.evaluate(averaged, x, y)
    assert loss == pytest.approx(eval_loss, rel=1e-4) and loss != pytest.approx(batch_loss, rel=1e-2)


def test_models_with_buffers_train_on_the_sequential_backend():
    assert type(make_trainer(resnet(), 0.1, 8, backend="auto")) is FlatTrainer
    with pytest.raises(ValueError, match="batched backend trains parameters only"):
        BatchedTrainer(resnet(), 0.1, 8)


def test_a_resnet_federation_runs_and_its_final_model_comes_back():
    results = flsim.run(flsim.Config(model="resnet8", **TINY))
    assert results.output_bias_tensor == "fc.bias"
    assert "layer3.0.bn2.running_var" in set(results.updates.layer)
    model = results.model()
    assert isinstance(model, models.ResNet) and not model.training
    test = flsim.data.load("fashion_mnist")
    x, y = test.test_x[:TINY["eval_samples"]], test.test_y[:TINY["eval_samples"]]
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy == pytest.approx(results.rounds.main_accuracy.iloc[-1], abs=1.5 / len(y))  # rounding may flip one
