"""Chapter 4's intervals in flsim.analysis: Student-t intervals over seeds, the lead of one tensor over
the others per setting, bootstrap ratios and the paper run's per-round z-scores."""

import numpy as np
import pandas as pd
import pytest

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
