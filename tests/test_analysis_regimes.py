"""Chapter 4's intervals in flsim.analysis: Student-t intervals over seeds, the lead of one tensor over
the others per setting, bootstrap ratios and the paper run's per-round z-scores."""

import numpy as np
import pandas as pd
import pytest
import torch

from flsim import analysis


@pytest.mark.parametrize("df, quantile", [(1, 12.706), (2, 4.303), (5, 2.571), (30, 2.042)])
def test_t_quantile_matches_the_tables(df, quantile):
    assert analysis.t_quantile(0.975, df) == pytest.approx(quantile, abs=2e-3)


def test_mean_interval():
    mean, low, high = analysis.mean_interval([1.0, 2.0, 3.0, np.nan])
    assert mean == 2.0 and (low, high) == pytest.approx((2 - 4.303 / np.sqrt(3), 2 + 4.303 / np.sqrt(3)), abs=1e-3)
    mean, low, high = analysis.mean_interval([5.0])
    assert mean == 5.0 and np.isnan(low) and np.isnan(high)
    assert analysis.mean_interval([2.0, 2.0]) == (2.0, 2.0, 2.0)


def summary_of(settings):
    """A sweep summary: per setting (name -> per-run z-scores of each layer), one row per run and layer."""
    rows, run = [], 0
    for setting, runs in settings.items():
        for scores in runs:
            rows += [dict(setting=setting, run=run, layer=layer, attacker_z=z) for layer, z in scores.items()]
            run += 1
    return pd.DataFrame(rows)


def test_tensor_lead_settles_a_clear_lead_and_not_a_split_one():
    summary = summary_of({
        "split": [{"conv1.weight": 5.0, "fc2.bias": 4.0}, {"conv1.weight": 3.0, "fc2.bias": 4.5},
                  {"conv1.weight": 6.0, "fc2.bias": 2.0}],
        "clear": [{"conv1.weight": 1.0, "fc2.bias": 6.0}, {"conv1.weight": 2.0, "fc2.bias": 6.5},
                  {"conv1.weight": 1.5, "fc2.bias": 7.0}],
        "alone": [{"conv1.weight": 1.0, "fc2.bias": 0.5}],
    })
    lead = analysis.tensor_lead(summary, ["setting"]).set_index("setting")
    assert list(lead.index) == ["split", "clear", "alone"]  # the summary's order, not sorted
    assert lead.loc["clear", "leader"] == "fc2.bias" and lead.loc["clear", "lead"] == pytest.approx(5.0)
    assert lead.loc["clear", "lead_low"] > 0 and lead.loc["clear", "runs_led"] == 3
    split = lead.loc["split"]
    assert split.leader == "conv1.weight" and split.rival == "conv1.weight" and split.lead == pytest.approx(-3.5 / 3)
    assert split.lead_low < 0 < split.lead_high and split.runs_led == 1 and split.runs == 3
    assert np.isnan(lead.loc["alone", "lead_low"]) and lead.loc["alone", "runs_led"] == 0


def test_ratio_interval_bootstraps_both_groups():
    ratio, low, high = analysis.ratio_interval([4.0], [1.0, 2.0, 3.0])
    assert ratio == 2.0 and low < ratio < high and high <= 4.0 and low >= 4.0 / 3
    assert analysis.ratio_interval([4.0], [1.0, 2.0, 3.0]) == (ratio, low, high)  # seeded
    assert analysis.ratio_interval([3.0], [1.0, 1.0]) == (3.0, 3.0, 3.0)


def test_auc_interval_stays_in_the_unit_interval():
    low, high = analysis.auc_interval(0.9, 5, 45)
    se = analysis.auc_standard_error(0.9, 5, 45)
    assert (low, high) == pytest.approx((0.9 - 1.96 * se, min(1.0, 0.9 + 1.96 * se)), abs=1e-3)
    assert analysis.auc_interval(1.0, 5, 45) == (1.0, 1.0)


def test_round_intervals_average_the_rounds():
    rows = []
    for round_, attacker in zip((1, 2, 3), (5.0, 7.0, 6.0)):
        for client, value in enumerate((attacker, 1.0, 2.0, 3.0, 2.0)):
            rows += [dict(round=round_, client=client, malicious=client == 0, layer=layer,
                          max_abs_deviation=value * scale) for layer, scale in (("fc1.weight", 1.0), ("fc2.bias", 2.0))]
    updates = pd.DataFrame(rows)
    table = analysis.round_intervals(updates)
    overall = analysis.layer_summary(updates).set_index("layer").attacker_z
    assert list(table.index) == ["fc1.weight", "fc2.bias"]
    assert table.attacker_z.to_numpy() == pytest.approx(overall[table.index].to_numpy())
    assert (table.low < table.attacker_z).all() and (table.attacker_z < table.high).all()


def test_the_papers_ratio_stops_at_num_clients_minus_1_and_the_median_ratio_does_not():
    """One client far from nine others that agree up to noise: its deviation from the mean is 9/10 of its
    shift and each honest client's 1/10, so the paper's ratio tends to num_clients - 1 and never passes it
    (the attacker's deviation is minus the sum of the others'); from the median the honest clients keep
    their own spread and the ratio grows with the shift."""
    from flsim.metrics import coordinate_median, update_statistics

    torch.manual_seed(0)
    n, layers = 10, {"small": slice(0, 10), "large": slice(10, 1010)}
    weights = 0.01 * torch.randn(n, 1010, dtype=torch.float64)
    g = torch.zeros(1010, dtype=torch.float64)
    ratios = {}
    for shift in (0.1, 10.0, 1000.0):
        w = weights.clone()
        w[0, :10] += shift  # client 0 dominates the small tensor only
        stats = update_statistics(w, g, layers, median=coordinate_median(w))
        paper, median = stats["max_abs_deviation"], stats["max_abs_from_median"]
        ratios[shift] = (float(paper[0, 0] / paper[1:, 0].mean()), float(median[0, 0] / median[1:, 0].mean()))
        assert float(paper[0, 0] / paper[1:, 0].mean()) <= n - 1 + 1e-9
        # a leave-one-out deviation, w_k - mean of the others, is n / (n - 1) times w_k - mean: the same ratio
        others = (w.sum(0) - w) / (n - 1)
        loo = (w[:, :10] - others[:, :10]).abs().amax(1)
        assert float(loo[0] / loo[1:].mean()) == pytest.approx(ratios[shift][0], rel=1e-9)
    assert ratios[1000.0][0] == pytest.approx(n - 1, rel=1e-3)  # at its ceiling
    assert ratios[10.0][1] > 20 * (n - 1) and ratios[1000.0][1] > 50 * ratios[10.0][1]  # the median's keeps growing


def test_the_median_of_an_even_number_of_clients_is_the_mean_of_the_middle_two():
    from flsim.metrics import coordinate_median, update_statistics

    w = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    stats = update_statistics(w, torch.zeros(1), {"t": slice(0, 1)}, median=coordinate_median(w))
    assert stats["max_abs_from_median"][:, 0].tolist() == [1.5, 0.5, 0.5, 8.5]
    assert stats["max_abs_deviation"][:, 0].tolist() == [3.25, 2.25, 1.25, 6.75]


def test_ratio_at_ceiling_is_within_one_percent_of_num_clients_minus_1():
    assert analysis.ratio_at_ceiling([9.0, 8.92, 8.9, 3.0], 10).tolist() == [True, True, False, False]
    assert analysis.ratio_at_ceiling([3.0, 2.98], 4).tolist() == [True, True]


def test_tensor_presence_counts_runs_above_the_threshold_apart_from_the_mean():
    summary = summary_of({
        "mean above, one run below": [{"conv1.weight": 9.0, "fc2.bias": 4.0}, {"conv1.weight": 9.0, "fc2.bias": 2.0},
                                      {"conv1.weight": 9.0, "fc2.bias": 5.0}],
        "at the threshold": [{"conv1.weight": 9.0, "fc2.bias": 3.0}, {"conv1.weight": 9.0, "fc2.bias": 3.0}],
    })
    presence = analysis.tensor_presence(summary, ["setting"]).set_index("setting")
    assert list(presence.index) == ["mean above, one run below", "at the threshold"]
    first = presence.loc["mean above, one run below"]
    assert first.value == pytest.approx(11 / 3) and first.present and first.runs_above == 2 and first.runs == 3
    second = presence.loc["at the threshold"]  # beyond the threshold means above it, not at it
    assert not second.present and second.runs_above == 0 and second.runs == 2


def test_honest_spread_leaves_the_attacker_out_and_keeps_the_tensors_order():
    rows = []
    for round_, honest in ((1, [1.0, 2.0, 3.0]), (2, [2.0, 4.0, 6.0])):
        for layer, scale in (("fc2.bias", 1.0), ("conv1.weight", 0.1)):
            values = [100.0] + [scale * v for v in honest]  # client 0 attacks
            rows += [dict(round=round_, client=c, malicious=c == 0, layer=layer, max_abs_deviation=v)
                     for c, v in enumerate(values)]
    spread = analysis.honest_spread(pd.DataFrame(rows))
    assert list(spread.index) == ["fc2.bias", "conv1.weight"]
    # round 1: median 2, MAD 1 -> 1.4826 / 2; round 2: median 4, MAD 2 -> 1.4826 / 2; a scale does not change it
    assert spread.tolist() == pytest.approx([1.4826 / 2, 1.4826 / 2])
    with_attacker = pd.DataFrame(rows).assign(malicious=False)
    assert analysis.honest_spread(with_attacker).iloc[0] != pytest.approx(1.4826 / 2)


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 9, 10, 17, 20])
def test_column_median_by_network_or_sort_is_the_sorted_median(rows):
    from flsim.metrics import column_median

    torch.manual_seed(rows)
    block = torch.randint(0, 5, (rows, 300)).float()  # many ties
    ordered = block.sort(0).values
    expected = (ordered[(rows - 1) // 2] + ordered[rows // 2]) / 2
    assert torch.equal(column_median(block), expected)
    assert torch.equal(column_median(block, network_rows=0), expected)  # the sort
