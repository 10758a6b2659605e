"""The chapter-1 helpers of flsim.analysis: client gradients, z-scores, the bias-shift terms."""

from types import SimpleNamespace

import numpy as np
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


def test_bias_term_shares_add_up_to_the_deviation():
    terms = pd.DataFrame({"poisoned_labels": [4.0, 0.0], "clean_labels": [2.0, 3.0], "start_probability": [1.0, 1.5],
                          "rise_via_bias": [0.0, 0.0], "rise_via_weights": [3.0, 1.0],
                          "bias_change": [2.0, 0.5]}) / 1000
    table = analysis.bias_term_shares(terms)
    assert list(table.columns) == ["+ poisoned", "+ clean", "− p_t start", "− rise of p_t", "= b_t change"]
    assert table.iloc[0].tolist() == pytest.approx([2.0, -0.5, 0.25, -1.0, 0.75])
    assert table.iloc[:, :-1].sum(axis=1).tolist() == pytest.approx(table.iloc[:, -1].tolist())
    tiny = analysis.bias_term_shares(terms.assign(rise_via_bias=[1e-9, -1e-9]))
    assert "-0.0" not in tiny.to_string()  # a share that rounds to zero shows no sign


def grid_shifts(ratios_by_seed):
    """bias_shift rows of a grid: settings a, b, c with predicted 1, 2, 3 on each seed."""
    return pd.DataFrame([dict(setting=s, varied="lr", seed=seed, predicted=p, ratio=r, benign_sd=0.5 * p)
                         for seed, ratios in enumerate(ratios_by_seed) for s, p, r in zip("abc", (1, 2, 3), ratios)])


def test_bias_shift_settings_averages_over_the_seeds():
    settings = analysis.bias_shift_settings(grid_shifts([[0.2, 0.3, 1.4], [0.4, 0.1, 0.6]]))
    assert list(settings.index) == ["a", "b", "c"]
    a = settings.loc["a"]
    assert a.ratio == pytest.approx(0.3) and a.lo < 0.3 < a.hi and a.seeds == 2 and a.below == 2
    assert settings.loc["c"].below == 1 and settings.honest_sd.tolist() == pytest.approx([0.5] * 3)
    assert (a.lo, a.hi) == pytest.approx(analysis.mean_interval([0.2, 0.4])[1:])


def test_rank_trend_counts_the_seeds_and_their_interval():
    falling = analysis.rank_trend(grid_shifts([[0.3, 0.2, 0.1], [0.3, 0.1, 0.2], [0.5, 0.4, 0.3]]), "predicted", "ratio")
    assert falling["groups"] == 3 and falling["negative"] == 3 and falling["falling"] == 2
    assert falling["rho"] == pytest.approx((-1 - 0.5 - 1) / 3) and falling["lo"] < falling["rho"] < falling["hi"] < 0
    mixed = analysis.rank_trend(grid_shifts([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]), "predicted", "ratio")
    assert mixed["rho"] == pytest.approx(0) and mixed["rising"] == 1
    assert (mixed["lo"], mixed["hi"]) == (-1, 1)  # the t interval, far wider, cut to where a correlation lies
    one = analysis.rank_trend(grid_shifts([[0.1, 0.2, 0.3]]).query("setting == 'a'"), "predicted", "ratio")
    assert one["groups"] == 0 and np.isnan(one["rho"])  # one value of x: no correlation
