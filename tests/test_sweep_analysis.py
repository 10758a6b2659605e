"""Sweep summaries of flsim.analysis and their figures in flsim.plots (chapters 5-7), on hand-made Results."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

import flsim
from flsim import analysis, notebook, plots, theory

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
    return flsim.Results(config, dict(rounds=rounds, updates=pd.DataFrame(updates), output_bias=pd.DataFrame(biases)))


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


@pytest.fixture
def closing():
    yield
    matplotlib.pyplot.close("all")


def test_sweep_roles_draws_both_roles_per_tensor(runs, closing):
    summary = analysis.sweep_summary(runs, by="num_malicious")
    fig = plots.sweep_roles(summary, "num_malicious", xlabel="attackers m", logx=False)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == list(LAYERS)
    assert all(ax.get_yscale() == "log" and ax.get_xlabel() == "" for ax in panels)
    assert fig.get_supxlabel() == "attackers m"  # once, under every panel
    assert "max |w_k - mean w|" in panels[0].get_ylabel()
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


def test_one_seed_below_zero_does_not_squeeze_the_bias_shift_figure(runs, closing):
    """Chapter 7's figure: at the smallest dose one seed's shift is a hair below zero. The linear part of
    the axis is the decade of the smallest mean drawn, not of that seed's value, and no empty negative
    decades are drawn; the legend sits beside the axes."""
    table = analysis.sweep_runs(runs, by="num_malicious")
    table.loc[(table.num_malicious == 1) & (table.seed == 1), "target_shift"] = -2e-9
    fig = plots.sweep_bias_shift(table, "num_malicious")
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog"
    means = table.groupby("num_malicious")[["target_shift", "benign_sd", "predicted_shift"]].mean().abs()
    linthresh = 10 ** np.floor(np.log10(means[means > 0].min().min()))
    assert ax.yaxis.get_transform().linthresh == pytest.approx(linthresh) and linthresh > 1e-5
    assert ax.get_ylim()[0] == pytest.approx(-linthresh)
    fig.canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1 - 1  # outside the axes, on the right


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


def test_sweep_figures_tick_the_swept_values(runs, closing):
    summary = analysis.sweep_summary(runs, by="num_malicious")
    for fig in (plots.sweep_roles(summary, "num_malicious"),
                plots.sweep_accuracy(analysis.sweep_runs(runs, by="num_malicious"), "num_malicious")):
        ax = fig.axes[0]
        assert list(ax.get_xticks()) == [0, 1] and [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]


# Intervals and the tables chapters 5-7 show (issue 21: intervals beside every compared number, tables
# that fit the page with the output bias first).

def noisy_results(num_malicious: int, seed: int = 0, rounds: int = 6, lr: float = 0.01) -> flsim.Results:
    """Rounds of four clients whose fc2.bias deviation and target-class shift vary from round to round
    (by the seed), so that a bootstrap over rounds has something to resample."""
    rng = np.random.default_rng(seed)
    config = flsim.Config(num_clients=4, num_rounds=rounds, samples_per_client=20, malicious_data_rate=5,
                          num_malicious=num_malicious, seed=seed, lr=lr)
    updates, biases = [], []
    for round_ in range(1, rounds + 1):
        for client in range(4):
            malicious = client < num_malicious
            for layer in LAYERS:
                value = (3.0 if malicious and layer == "fc2.bias" else 1.0) + rng.uniform(0, 1)
                updates.append(dict(round=round_, client=client, malicious=malicious, layer=layer,
                                    max_abs_deviation=value, l2_deviation=value, cosine_to_mean=0.5))
            shift = lr * (0.4 + rng.uniform(0, 0.2)) if malicious else lr * rng.normal(0, 0.1)
            biases += [{"round": round_, "client": client, "malicious": malicious, "class": label,
                        "deviation": shift if label == config.target_class else 0.0} for label in range(10)]
    rounds_table = pd.DataFrame({"round": range(rounds + 1), "main_accuracy": 0.5, "backdoor_accuracy": 0.1,
                                 "seconds": 1.0})
    return flsim.Results(config, dict(rounds=rounds_table, updates=pd.DataFrame(updates),
                                      output_bias=pd.DataFrame(biases)))


@pytest.fixture
def noisy():
    return [noisy_results(m, seed) for seed in (0, 1, 2) for m in (0, 1, 2)]


def test_interval_text_never_shows_a_negative_zero():
    assert analysis.interval_text(0.5612, 0.4, 0.7) == "0.56 [0.40, 0.70]"
    assert analysis.interval_text(-0.001, -0.004, 0.3) == "0.00 [0.00, 0.30]"
    assert analysis.interval_text(0.5, -0.2, 1.2, ".0%") == "50% [-20%, 120%]"
    assert analysis.interval_text(-0.2, -0.3, -0.1) == "-0.20 [-0.30, -0.10]"


def test_interval_text_shows_no_brackets_without_an_interval():
    assert analysis.interval_text(0.42, float("nan"), float("nan"), ".0%") == "42%"  # one seed: no interval


def test_sweep_auc_gives_each_mean_auc_an_interval_of_two_standard_errors(noisy):
    summary = analysis.sweep_summary(noisy, by="num_malicious")
    auc = analysis.sweep_auc(noisy, summary, "num_malicious")
    assert list(auc.index) == [(1, "fc1.weight"), (1, "fc2.bias"), (2, "fc1.weight"), (2, "fc2.bias")]
    bias = auc.loc[(1, "fc2.bias")]
    # a perfect separation keeps a width (3 seeds x 6 rounds: 18 attacker and 54 honest client-rounds)
    assert bias.auc == 1.0 and bias.hi == 1.0 and 0.5 < bias.lo < 0.99 and bias.clear
    assert bias.lo == pytest.approx(analysis.auc_score_interval(1.0, 18, 54, 0.9545)[0], abs=1e-3)
    flat = auc.loc[(2, "fc1.weight")]
    means = summary[(summary.num_malicious == 2) & (summary.layer == "fc1.weight")].auc.mean()
    # 2 attackers x 6 rounds against 2 honest clients x 6 rounds, three seeds
    assert flat.auc == pytest.approx(means)
    assert flat.se == pytest.approx(analysis.auc_standard_error(means, 12, 12) / np.sqrt(3))
    assert flat.lo < means < flat.hi and flat.clear == (flat.lo > 0.5)
    assert flat.hi - flat.lo == pytest.approx(4 * flat.se, rel=0.2)  # about two errors either side


def test_sweep_ratio_brackets_the_seeds_mean_ratio_the_same_way_every_time(noisy):
    summary = analysis.sweep_summary(noisy, by="num_malicious")
    ratio = analysis.sweep_ratio(noisy, "num_malicious")
    means = summary.dropna(subset=["ratio"]).groupby(["num_malicious", "layer"]).ratio.mean()
    assert ratio.ratio.to_numpy() == pytest.approx(means.loc[ratio.index].to_numpy())
    assert (ratio.lo < ratio.ratio).all() and (ratio.ratio < ratio.hi).all()
    assert (ratio.loc[(1, "fc2.bias")].lo > ratio.loc[(1, "fc1.weight")].hi)  # 3.5 against 1.5: apart
    pd.testing.assert_frame_equal(ratio, analysis.sweep_ratio(noisy, "num_malicious"))


def test_sweep_evidence_and_the_verdict_words(noisy):
    summary = analysis.sweep_summary(noisy, by="num_malicious")
    auc = analysis.sweep_auc(noisy, summary, "num_malicious")
    evidence = analysis.sweep_evidence(auc, analysis.sweep_ratio(noisy, "num_malicious"), "fc2.bias")
    assert list(evidence.index) == [1, 2] and (evidence.auc_rank == 1).all() and evidence.clear.all()
    assert (evidence.best == "fc2.bias").all() and (evidence.ratio_rank == 1).all() and evidence.ratio_clear.all()
    claim = analysis.localisation_claim(evidence, "fc2.bias", "the numbers of attackers", "m")
    assert "holds across the numbers of attackers" in claim and "chance" not in claim
    # at m = 2 a win whose interval reaches chance supports nothing; at m = 1 a shared win is named
    weak = evidence.assign(clear=[True, False], best=["fc2.bias and fc1.weight", "fc2.bias"],
                           lo=[0.8, 0.45], auc=[0.9, 0.6], hi=[1.0, 0.75])
    claim = analysis.localisation_claim(weak, "fc2.bias", "the numbers of attackers", "m")
    assert "holds only in part" in claim and "clear of chance, only at m = 1 (AUC 0.90 [0.80, 1.00])" in claim
    assert "also the best tensor at m = 2 (AUC 0.60 [0.45, 0.75]), but with an interval that reaches " \
           "chance (0.5), which supports nothing" in claim
    assert "at m = 1 it shares the top AUC with fc1.weight" in claim
    none = weak.assign(clear=False)
    assert "does not hold" in analysis.localisation_claim(none, "fc2.bias", "the rates", "r")
    notebook.summary({"runs": 6}, claim)  # every number it cites carries its interval


def test_sweep_evidence_counts_the_seeds_in_which_the_tensor_tops_its_run(noisy):
    summary = analysis.sweep_summary(noisy, by="num_malicious")
    auc, ratio = analysis.sweep_auc(noisy, summary, "num_malicious"), analysis.sweep_ratio(noisy, "num_malicious")
    counted = analysis.sweep_evidence(auc, ratio, "fc1.weight", summary)
    # per run, fc1.weight tops its run where its AUC / ratio is at least fc2.bias's (a tie counts)
    runs = summary.dropna(subset=["auc"]).pivot(index="run", columns="layer", values=["auc", "ratio"])
    value = summary.groupby("run").num_malicious.first().loc[runs.index]
    for measure in ("auc", "ratio"):
        tops = (runs[measure]["fc1.weight"] >= runs[measure]["fc2.bias"]).groupby(value).sum()
        assert counted[f"{measure}_seeds"].tolist() == tops.tolist()
    assert counted.seeds.tolist() == [3, 3] and counted.ratio_seeds.tolist() == [0, 0]
    partly = counted.assign(auc_rank=1, clear=[True, False], best="fc1.weight")
    claim = analysis.localisation_claim(partly, "fc1.weight", "the numbers of attackers", "m")
    assert f"only at m = 1 (AUC {analysis.interval_text(*counted.loc[1, ['auc', 'lo', 'hi']])}, the top " \
           f"tensor in {counted.auc_seeds[1]} of 3 seeds)" in claim
    shown = analysis.evidence_table(counted, "fc1.weight", "m")
    assert shown["top in seeds"].tolist() == [
        f"{a} / 0 of 3" for a in counted.auc_seeds]
    notebook.table(shown)  # fits the page
    plain = analysis.sweep_evidence(auc, ratio, "fc1.weight")
    assert "seeds" not in plain and "seeds)" not in analysis.localisation_claim(
        plain.assign(auc_rank=1, clear=[True, False]), "fc1.weight", "the rates", "r")


def test_sweep_tables_fit_the_page_with_the_output_bias_first(noisy):
    summary = analysis.sweep_summary(noisy, by="num_malicious")
    per_run = analysis.sweep_runs(noisy, by="num_malicious")
    auc = analysis.sweep_auc(noisy, summary, "num_malicious")
    ratio = analysis.sweep_ratio(noisy, "num_malicious")
    evidence = analysis.sweep_evidence(auc, ratio, "fc2.bias")
    runs = analysis.sweep_run_table(per_run, summary, "num_malicious", "fc2.bias", "m")
    assert list(runs.columns[:2]) == ["fc2.bias AUC", "fc2.bias ratio"] and runs.index.names == ["m", "seed"]
    assert runs.loc[(0, 0)].iloc[:2].isna().all() and runs.loc[(1, 0), "fc2.bias AUC"] == 1.0
    tensors = analysis.tensor_table(auc, ratio, "fc2.bias", "m")
    assert list(tensors.index) == [(1, "fc2.bias"), (1, "fc1.weight"), (2, "fc2.bias"), (2, "fc1.weight")]
    assert list(tensors.columns) == ["AUC", "ratio"]
    assert tensors.loc[(2, "fc2.bias"), "ratio"] == analysis.interval_text(*ratio.loc[(2, "fc2.bias")])
    case = analysis.evidence_table(evidence, "fc2.bias", "m")
    assert list(case.columns) == ["fc2.bias AUC", "AUC rank", "fc2.bias ratio", "ratio rank"]
    shift = analysis.shift_table(analysis.sweep_shift(noisy, "num_malicious"), "m")
    for table in (runs, tensors, case, shift):
        shown = notebook.table(table)  # raises TableTooWide past the book's column
        assert "nan" not in shown.to_html().lower()


def test_sweep_shift_brackets_the_measured_shift(noisy):
    shift = analysis.sweep_shift(noisy, "num_malicious")
    per_run = analysis.sweep_runs(noisy, by="num_malicious").query("num_malicious > 0")
    means = per_run.groupby("num_malicious")[["target_shift", "benign_sd", "predicted_shift"]].mean()
    assert list(shift.index) == [1, 2] and (shift.poisoned == [4, 2]).all()
    assert shift.measured.to_numpy() == pytest.approx(means.target_shift.to_numpy())
    assert shift.predicted.to_numpy() == pytest.approx(means.predicted_shift.to_numpy())
    assert shift.sd_units.to_numpy() == pytest.approx((means.target_shift / means.benign_sd).to_numpy())
    assert ((shift.lo < shift.measured) & (shift.measured < shift.hi)).all()
    assert shift.fraction_lo.to_numpy() == pytest.approx((shift.lo / shift.predicted).to_numpy())


def test_shift_exponents_find_a_shift_linear_in_the_learning_rate():
    runs = [noisy_results(1, seed, lr=lr) for seed in (0, 1) for lr in (0.003, 0.01, 0.03, 0.1)]
    exponents = analysis.shift_exponents(runs, "lr")
    measured = exponents.loc["measured"]
    assert measured.lo < 1 < measured.hi and measured.k == pytest.approx(1, abs=0.1)
    assert measured.hi - measured.lo < 0.3  # the attacker's shift is 0.4-0.6 lr in every round
    assert exponents.loc["difference"].k == pytest.approx(measured.k - exponents.loc["honest_sd"].k)
    by_dose = analysis.shift_exponents(runs, "lr", x="poisoned")  # one dose: no exponent
    assert by_dose.isna().all().all()


def test_poisoning_rule_counts_the_paper_rule_and_its_alternative():
    rule = analysis.poisoning_rule(300, [0, 1, 2, 4], 10, 0.01, 64, 1, 10)
    assert list(rule.index) == [1, 2, 4]
    assert list(rule["poisoned each"]) == [30, 15, 8] and list(rule["in total"]) == [30, 30, 32]
    assert (rule["each, step r"] == 30).all()
    assert rule.loc[2, "predicted shift"] == pytest.approx(theory.predicted_bias_shift(300, 2, 10, 0.01, 64, 1, 10))
    assert rule.loc[4, "shift, step r"] == pytest.approx(0.01 * 30 / 64 * (1 - 4 / 10))
    assert rule.loc[1, "shift, step r"] == pytest.approx(rule.loc[1, "predicted shift"])


def test_seed_spread_and_its_sentence(noisy):
    per_run = analysis.sweep_runs(noisy, by="num_malicious").assign(main_accuracy=[0.5, 0.6, 0.7] * 3)
    spread = analysis.seed_spread(per_run, "num_malicious", "main_accuracy")
    assert list(spread.columns) == ["mean", "lo", "hi"] and spread.loc[1].tolist() == pytest.approx([0.6, 0.6, 0.6])
    per_run = per_run.assign(main_accuracy=np.repeat([0.5, 0.6, 0.7], 3))  # seed 0, 1, 2
    spread = analysis.seed_spread(per_run, "num_malicious", "main_accuracy")
    assert spread.loc[0].tolist() == pytest.approx([0.6, 0.5, 0.7])
    assert analysis.per_value_text(spread, "m", spec=".0%").startswith("m = 0: 60% [50%, 70%]; m = 1: ")


def test_exponent_text_says_why_an_exponent_is_missing():
    row = pd.Series({"k": 0.8612, "lo": 0.5, "hi": 1.2})
    assert analysis.exponent_text(row) == "0.86 [0.50, 1.20]"
    assert analysis.exponent_text(pd.Series({"k": np.nan, "lo": np.nan, "hi": np.nan})).startswith("undefined")
    assert "nan" not in analysis.exponent_text(pd.Series({"k": 0.86, "lo": np.nan, "hi": np.nan}))
