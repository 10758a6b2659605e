"""Sweep summaries of flsim.analysis and their figures in flsim.plots (chapters 5-7), on hand-made Results."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

import flsim
from flsim import analysis, plots, theory

matplotlib.use("Agg")

LAYERS = ("fc1.weight", "fc2.bias")


def fake_results(num_malicious: int, seed: int = 0, shift: float = 0.004) -> flsim.Results:
    """Two rounds of three clients; the attackers (clients < num_malicious) deviate 4 in fc2.bias,
    the honest clients 1 and 2, and every client 1 in fc1.weight."""
    config = flsim.Config(num_clients=3, num_rounds=2, samples_per_client=20, malicious_data_rate=5,
                          num_malicious=num_malicious, seed=seed)
    updates, biases = [], []
    for round_ in (1, 2):
        for client in range(3):
            malicious = client < num_malicious
            for layer in LAYERS:
                value = (4.0 if malicious else 1.0 + (client == 2)) if layer == "fc2.bias" else 1.0
                updates.append(dict(round=round_, client=client, malicious=malicious, layer=layer,
                                    max_abs_deviation=value, l2_deviation=value, cosine_to_mean=0.5))
            for label in range(10):
                deviation = (shift if malicious else 0.001 * (client - 1.5)) if label == config.target_class else 0.0
                biases.append({"round": round_, "client": client, "malicious": malicious, "class": label,
                               "deviation": deviation})
    rounds = pd.DataFrame({"round": [0, 1, 2], "main_accuracy": [0.3, 0.6, 0.7],
                           "backdoor_accuracy": [0.0, 0.2, 0.4], "seconds": 1.0})
    return flsim.Results(config, rounds, pd.DataFrame(updates), pd.DataFrame(biases))


@pytest.fixture
def runs():
    return [fake_results(m, seed) for seed in (0, 1) for m in (0, 1)]


def test_sweep_summary_has_one_row_per_run_and_tensor(runs):
    summary = analysis.sweep_summary(runs, by="num_malicious")
    assert list(summary.columns[:4]) == ["run", "num_malicious", "seed", "layer"]
    assert len(summary) == 4 * len(LAYERS) and summary.run.nunique() == 4
    attacked = summary[(summary.num_malicious == 1) & (summary.layer == "fc2.bias")].iloc[0]
    assert attacked.malicious_mean == 4.0 and attacked.benign_mean == 1.5
    assert attacked.ratio == pytest.approx(4 / 1.5) and attacked.auc == 1.0
    flat = summary[(summary.num_malicious == 1) & (summary.layer == "fc1.weight")].iloc[0]
    assert flat.auc == 0.5 and flat.ratio == 1.0


def test_sweep_summary_without_attacker_keeps_the_benign_mean(runs):
    clean = analysis.sweep_summary(runs, by="num_malicious").query("num_malicious == 0")
    assert clean[["malicious_mean", "ratio", "auc", "top_rate"]].isna().all().all()
    assert clean.set_index(["seed", "layer"]).benign_mean.loc[(0, "fc2.bias")] == pytest.approx(4 / 3)


def test_sweep_summary_by_several_fields(runs):
    summary = analysis.sweep_summary(runs, by=["num_malicious", "lr"])
    assert list(summary.columns[:5]) == ["run", "num_malicious", "lr", "seed", "layer"]
    assert (summary.lr == 0.01).all()


def test_sweep_runs(runs):
    table = analysis.sweep_runs(runs, by="num_malicious", last_rounds=2).set_index(["num_malicious", "seed"])
    assert len(table) == 4
    attacked = table.loc[(1, 0)]
    assert attacked.main_accuracy == 0.7 and attacked.backdoor_accuracy == 0.4
    assert attacked.backdoor_accuracy_last == pytest.approx(0.3)  # rounds 1 and 2; round 0 never counts
    assert attacked.poisoned == 4  # positions 0, 5, 10, 15 of 20
    assert attacked.target_shift == pytest.approx(0.004)
    assert attacked.benign_sd == pytest.approx(np.std([-0.0005, 0.0005], ddof=1))
    assert attacked.predicted_shift == pytest.approx(theory.predicted_bias_shift(20, 1, 5, 0.01, 64, 1, 3))
    clean = table.loc[(0, 0)]
    assert clean.poisoned == 0 and np.isnan(clean.target_shift) and np.isnan(clean.predicted_shift)


def test_layer_ranks_average_seeds_and_skip_runs_without_attacker(runs):
    summary = analysis.sweep_summary(runs, by="num_malicious")
    ranks = analysis.layer_ranks(summary, "num_malicious", "auc")
    assert list(ranks.index) == [1] and list(ranks.columns) == list(LAYERS)
    assert ranks.loc[1, "fc2.bias"] == 1 and ranks.loc[1, "fc1.weight"] == 2
    assert (analysis.layer_ranks(summary, "num_malicious", "benign_mean").loc[0] == [2, 1]).all()


@pytest.fixture
def closing():
    yield
    matplotlib.pyplot.close("all")


def test_sweep_roles_draws_both_roles_per_tensor(runs, closing):
    summary = analysis.sweep_summary(runs, by="num_malicious")
    fig = plots.sweep_roles(summary, "num_malicious", xlabel="attackers m", logx=False)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == list(LAYERS)
    assert all(ax.get_yscale() == "log" and ax.get_xlabel() == "attackers m" for ax in panels)
    assert "max_abs_deviation" in panels[0].get_ylabel()
    legend = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert legend == ["benign", "malicious"]
    benign, malicious = panels[1].lines[:2]  # fc2.bias; malicious has no point at m = 0
    assert list(benign.get_xdata()) == [0, 1] and list(malicious.get_xdata()) == [1]
    assert benign.get_ydata() == pytest.approx([4 / 3, 1.5]) and malicious.get_ydata() == pytest.approx([4.0])


def test_sweep_layers_highlights_one_tensor(runs, closing):
    summary = analysis.sweep_summary(runs, by="num_malicious")
    fig = plots.sweep_layers(summary, "num_malicious", {"ratio": "ratio", "auc": "ROC-AUC"}, logx=True,
                             references={"auc": 0.5}, highlight=runs[0].output_bias_tensor)
    ratio_ax, auc_ax = fig.axes[:2]
    assert auc_ax.get_ylabel() == "ROC-AUC" and auc_ax.get_xscale() == "log"
    widths = {line.get_label(): line.get_linewidth() for line in auc_ax.get_legend().get_lines()}
    assert widths["fc2.bias"] > widths["fc1.weight"]
    assert any(np.allclose(line.get_ydata(), 0.5) for line in auc_ax.lines)  # the reference
    assert not any(np.allclose(line.get_ydata(), 0.5) for line in ratio_ax.lines)


def test_sweep_accuracy_in_percent(runs, closing):
    fig = plots.sweep_accuracy(analysis.sweep_runs(runs, by="num_malicious", last_rounds=2), "num_malicious",
                               xlabel="attackers m")
    backdoor, main = fig.axes[:2]
    assert "backdoor accuracy (%)" in backdoor.get_ylabel() and "main-task" in main.get_ylabel()
    assert backdoor.lines[0].get_ydata() == pytest.approx([30.0, 30.0])
    assert main.lines[0].get_ydata() == pytest.approx([70.0, 70.0]) and main.get_xlabel() == "attackers m"


def test_sweep_bias_shift_draws_measured_predicted_and_spread(runs, closing):
    table = analysis.sweep_runs(runs, by="num_malicious")
    ax = plots.sweep_bias_shift(table, "num_malicious").axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(plots.SHIFT_NAMES.values())
    assert ax.get_yscale() == "log" and "logit units" in ax.get_ylabel()
    assert ax.lines[0].get_ydata() == pytest.approx([0.004])  # measured, attacked runs only
    negative = table.assign(target_shift=-table.target_shift)
    negative_axis = plots.sweep_bias_shift(negative, "num_malicious").axes[0]
    assert negative_axis.get_yscale() == "symlog"  # orders of magnitude on both sides of zero


def test_sweep_runs_takes_the_client_size_when_configs_have_none():
    run = fake_results(1)
    run.config = run.config.replace(samples_per_client=None)
    assert np.isnan(analysis.sweep_runs([run], "num_malicious").predicted_shift.iloc[0])
    table = analysis.sweep_runs([run], "num_malicious", num_samples=20)
    assert table.poisoned.iloc[0] == 4 and table.predicted_shift.iloc[0] > 0


def test_power_law_exponent():
    x = np.array([0.003, 0.01, 0.03, 0.1])
    assert analysis.power_law_exponent(x, 5 * x) == pytest.approx(1.0)
    assert analysis.power_law_exponent(x, 2 / np.sqrt(x)) == pytest.approx(-0.5)
    assert np.isnan(analysis.power_law_exponent(x, x - 0.005))  # a non-positive value
    assert np.isnan(analysis.power_law_exponent([1, 1], [1, 2]))


def test_layer_ranks_sorts_the_swept_values():
    summary = analysis.sweep_summary([fake_results(2), fake_results(1)], by="num_malicious")
    assert list(analysis.layer_ranks(summary, "num_malicious").index) == [1, 2]


def test_sweep_figures_tick_the_swept_values(runs, closing):
    summary = analysis.sweep_summary(runs, by="num_malicious")
    for fig in (plots.sweep_roles(summary, "num_malicious"),
                plots.sweep_accuracy(analysis.sweep_runs(runs, by="num_malicious"), "num_malicious")):
        ax = fig.axes[0]
        assert list(ax.get_xticks()) == [0, 1] and [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
