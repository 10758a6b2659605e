"""The chapter-1 helpers of flsim.analysis: client gradients, z-scores, the bias-shift terms."""

from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from torch.nn import functional as F

import flsim
from flsim import analysis, theory
from flsim.layout import Layers
from flsim.models import PaperCNN
from flsim.train import FlatTrainer


def tiny_trainer(lr=0.05, batch_size=8):
    torch.manual_seed(0)
    return FlatTrainer(PaperCNN((1, 8, 8), 10), lr, batch_size)


def tiny_data(n, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def test_client_gradients_are_autograd_and_the_closed_form():
    trainer = tiny_trainer()
    start = trainer.weights.clone()
    datasets = [tiny_data(12, 1), tiny_data(7, 2)]
    gradients = analysis.client_gradients(trainer, start, datasets)
    assert gradients.shape == (2, start.numel())
    for row, (x, y) in zip(gradients, datasets):
        model = PaperCNN((1, 8, 8), 10)
        torch.nn.utils.vector_to_parameters(start, model.parameters())
        F.cross_entropy(model(x), y).backward()
        assert torch.allclose(row, torch.cat([p.grad.reshape(-1) for p in model.parameters()]), atol=1e-6)
        with torch.no_grad():
            _, db = theory.output_layer_gradients(model.features(x), model.fc2.weight, model.fc2.bias, y)
        assert torch.allclose(row[trainer.layers["fc2.bias"]], db, atol=1e-6)


def test_output_layer_zscores():
    layers = Layers({"out.weight": slice(0, 4), "out.bias": slice(4, 6)}, "out")  # 2 classes x 2 units, 2 biases
    benign = torch.tensor([[0.0, 1.0, 5.0, 1.0, 1.0, 2.0],
                           [0.0, 3.0, 5.0, 3.0, 3.0, 4.0]])  # mean 0 2 5 2 2 3, sd 0 sqrt2 0 sqrt2 sqrt2 sqrt2
    attacker = torch.tensor([[9.0, 2.0, 5.0, 2.0 + 2 ** 0.5, 2.0 - 3 * 2 ** 0.5, 3.0]])
    frame = analysis.output_layer_zscores(torch.cat([attacker, benign]), [True, False, False], layers,
                                          target_class=1)
    z = frame.set_index(["output_class", "unit"]).z
    assert len(frame) == 4  # the two entries no benign client moves have no z
    assert z[(1, 1)] == pytest.approx(1.0) and z[(0, -1)] == pytest.approx(-3.0) and z[(1, -1)] == 0
    assert list(frame.group) == ["bias, target class", "bias, other classes",
                                 "weights, target class", "weights, other classes"]


def test_output_bias_terms_add_up_to_the_bias_change_of_plain_training():
    trainer = tiny_trainer()
    start = trainer.weights.clone()
    x, y = tiny_data(30, 3)
    poisoned = torch.zeros(30, dtype=torch.bool)
    poisoned[::5] = True
    y[poisoned] = 2
    terms = analysis.output_bias_terms(trainer, start, x, y, poisoned, 2, torch.Generator().manual_seed(7))
    reference = trainer.train(start, x, y, 1, torch.Generator().manual_seed(7))
    bias = trainer.layers["fc2.bias"]
    assert terms["bias_change"] == pytest.approx(float(reference[bias][2] - start[bias][2]), abs=1e-6)
    total = (terms["poisoned_labels"] + terms["clean_labels"] - terms["start_probability"]
             - terms["rise_via_bias"] - terms["rise_via_weights"])
    assert total == pytest.approx(terms["bias_change"], abs=1e-6)
    # 6 poisoned labels in batches of 8, 8, 8, 6: each counts lr / |batch|.
    assert 6 * 0.05 / 8 <= terms["poisoned_labels"] <= 6 * 0.05 / 6


def test_bias_shift_table():
    config = flsim.Config(num_clients=4, samples_per_client=100, malicious_data_rate=10)
    rows = [dict(round=r, client=c, malicious=c == 0, deviation=d, **{"class": k})
            for r in (1, 2) for c, d in enumerate([0.004, -0.001, -0.001, -0.002]) for k in (1, 2)]
    table = analysis.bias_shift(SimpleNamespace(config=config, output_bias=pd.DataFrame(rows)))
    predicted = theory.predicted_bias_shift(100, 1, 10, 0.01, 64, 1, 4)
    assert list(table["round"]) == [1, 2]
    assert table.predicted.tolist() == [predicted] * 2
    assert table.malicious.tolist() == pytest.approx([0.004] * 2)
    assert table.benign_mean.tolist() == pytest.approx([-4 / 3000] * 2)
    assert table.ratio.tolist() == pytest.approx([0.004 / predicted] * 2)
    with pytest.raises(ValueError, match="num_samples"):
        analysis.bias_shift(SimpleNamespace(config=config.replace(samples_per_client=None), output_bias=None))


def test_mean_overlap_leaves_out_each_row_with_itself():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    assert analysis.mean_overlap(a) == pytest.approx((1 + 0 + 2) * 2 / 6)
