"""Detection as benchmarks report it (flsim.analysis.detection_report, chapters 8 and 9): rates with
Wilson intervals, AUCs with a bootstrap over rounds, thresholds fixed on runs without an attacker."""

import math

import numpy as np
import pandas as pd
import pytest

import flsim
from flsim import analysis


def run(detection: pd.DataFrame, defence: pd.DataFrame | None = None) -> flsim.Results:
    """A Results holding only the tables the detection analysis reads."""
    return flsim.Results(flsim.Config(), {"detection": detection} | ({} if defence is None else {"defence": defence}))


def detection(seed: int, rounds: int = 6, clients: int = 10, attacker_shift: float | None = 4.0) -> pd.DataFrame:
    """Client 0 attacks in every round (none when ``attacker_shift`` is None); detector "sees" scores
    it ``attacker_shift`` higher, detector "blind" draws it like everyone else."""
    rng = np.random.default_rng(seed)
    rows = []
    for round_ in range(1, rounds + 1):
        for client in range(clients):
            malicious = client == 0 and attacker_shift is not None
            for name, shift in (("sees", attacker_shift or 0.0), ("blind", 0.0)):
                score = rng.normal() + (shift if malicious else 0.0)
                rows.append(dict(round=round_, client=client, malicious=malicious, detector=name, score=score))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("successes, trials", [(0, 36), (4, 36), (36, 36), (1, 1), (7, 200)])
def test_wilson_interval_holds_its_rate_inside_zero_and_one(successes, trials):
    lo, hi = analysis.wilson_interval(successes, trials)
    assert 0 <= lo <= successes / trials <= hi <= 1 and hi - lo > 0


def test_wilson_interval_known_values():
    # Wilson (1927) at 95%: 4 of 36 -> [0.044, 0.253]; 0 of 36 -> [0, 0.096].
    assert analysis.wilson_interval(4, 36) == pytest.approx((0.0441, 0.2533), abs=5e-4)
    assert analysis.wilson_interval(0, 36) == pytest.approx((0.0, 0.0964), abs=5e-4)
    assert all(math.isnan(x) for x in analysis.wilson_interval(0, 0))
    narrow, wide = analysis.wilson_interval(40, 400), analysis.wilson_interval(4, 40)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]  # more client-rounds, a narrower interval


def test_auc_bootstrap_interval_holds_the_auc_and_shrinks_with_more_rounds():
    few, many = detection(0, rounds=4, attacker_shift=1.0), detection(0, rounds=40, attacker_shift=1.0)
    widths = []
    for frame in (few, many):
        part = frame[frame.detector == "sees"]
        auc = analysis.roc_auc(part.score, part.malicious)
        lo, hi = analysis.auc_bootstrap_interval(part.score, part.malicious, part["round"], resamples=500)
        assert 0 <= lo <= auc <= hi <= 1
        widths.append(hi - lo)
    assert widths[1] < widths[0]
    part = few[few.detector == "sees"]
    assert analysis.auc_bootstrap_interval(part.score, part.malicious, part["round"]) == \
        analysis.auc_bootstrap_interval(part.score, part.malicious, part["round"])  # seeded
    assert all(math.isnan(x) for x in analysis.auc_bootstrap_interval([1, 2], [False, False], [1, 1]))


def test_auc_score_interval_keeps_a_width_at_perfect_separation():
    # 4 attackers above 16 honest clients: (1 - t)^2 = 1.96^2 V(t) at t = 0.711 (Newcombe's method 5).
    assert analysis.auc_score_interval(1.0, 4, 16) == pytest.approx((0.7115, 1.0), abs=5e-4)
    lo, hi = analysis.auc_score_interval(0.5, 20, 180)
    assert lo == pytest.approx(1 - hi) and lo < 0.5 < hi  # symmetric about chance
    for auc, positives, negatives in [(0.0, 4, 16), (0.9, 4, 36), (0.93, 20, 180), (0.6, 80, 120)]:
        lo, hi = analysis.auc_score_interval(auc, positives, negatives)
        assert 0 <= lo <= auc <= hi <= 1 and hi > lo
    few, many = analysis.auc_score_interval(0.9, 4, 36), analysis.auc_score_interval(0.9, 20, 180)
    assert many[1] - many[0] < few[1] - few[0]
    assert all(math.isnan(x) for x in analysis.auc_score_interval(0.9, 0, 10))


def test_the_threshold_comes_from_the_clean_runs_alone():
    clean = [run(detection(seed, attacker_shift=None)) for seed in (10, 11)]
    thresholds = analysis.clean_thresholds(clean, fpr=0.05)
    honest = pd.concat([r.detection for r in clean])
    for name, threshold in thresholds.items():
        scores = honest[honest.detector == name].score
        assert (scores > threshold).mean() <= 0.05 < (scores >= threshold).mean()
    # The judged runs change; the threshold does not, and the calibrated rates follow it.
    first = analysis.detection_report([run(detection(0))], clean).set_index("detector")
    second = analysis.detection_report([run(detection(1, rounds=9, attacker_shift=0.5))], clean).set_index("detector")
    pd.testing.assert_series_equal(first.threshold, second.threshold)
    assert first.threshold.to_dict() == pytest.approx(thresholds.to_dict())
    judged = detection(1, rounds=9, attacker_shift=0.5)
    sees = judged[judged.detector == "sees"]
    assert second.cal_tpr["sees"] == pytest.approx((sees[sees.malicious].score > thresholds["sees"]).mean())


def test_detection_report_pools_seeds_and_counts_what_it_summarises():
    attacked = [run(detection(seed)) for seed in range(3)]
    clean = [run(detection(seed + 10, attacker_shift=None)) for seed in range(3)]
    report = analysis.detection_report(attacked, clean).set_index("detector")
    assert list(report.index) == ["sees", "blind"]
    assert (report.attacker_rounds == 3 * 6).all() and (report.honest_rounds == 3 * 6 * 9).all()
    assert (report.clean_rounds == 3 * 6 * 10).all()
    for rate in ("auc", "tpr", "fpr", "clean_fpr", "cal_tpr", "cal_fpr"):
        assert ((0 <= report[f"{rate}_lo"]) & (report[f"{rate}_lo"] <= report[rate])
                & (report[rate] <= report[f"{rate}_hi"]) & (report[f"{rate}_hi"] <= 1)).all(), rate
    assert report.auc["sees"] > 0.95 and report.auc_lo["sees"] > report.auc_hi["blind"]
    # The AUC's interval holds both the bootstrap's and the score interval's.
    for name, row in report.iterrows():
        part = pd.concat([r.detection.assign(run=i) for i, r in enumerate(attacked)])
        part = part[part.detector == name]
        drawn = analysis.auc_bootstrap_interval(part.score, part.malicious,
                                                part.groupby(["run", "round"]).ngroup())
        scored = analysis.auc_score_interval(row.auc, row.attacker_rounds, row.honest_rounds)
        assert (row.auc_lo, row.auc_hi) == pytest.approx((min(drawn[0], scored[0]), max(drawn[1], scored[1])))
    assert report.tpr["sees"] > report.tpr["blind"]
    # The outlier rule runs within each run's round: the pooled rate is the rounds' flags counted together.
    flags = analysis.flag(pd.concat([r.detection.assign(run=i) for i, r in enumerate(attacked)]))
    pooled = pd.concat([r.detection for r in attacked], ignore_index=True)
    sees = pooled.detector == "sees"
    assert report.tpr["sees"] == pytest.approx(flags[sees & pooled.malicious].mean())
    assert report.fpr["sees"] == pytest.approx(flags[sees & ~pooled.malicious].mean())


def test_detection_report_without_clean_runs_or_attackers():
    report = analysis.detection_report(run(detection(0))).set_index("detector")
    assert report.clean_rounds.eq(0).all() and report[["clean_fpr", "threshold", "cal_tpr"]].isna().all().all()
    nobody = analysis.detection_report(run(detection(0, attacker_shift=None))).set_index("detector")
    assert nobody.attacker_rounds.eq(0).all() and nobody[["auc", "auc_lo", "tpr"]].isna().all().all()
    assert nobody.fpr.between(0, 1).all()


def test_interval_columns_show_text_and_blanks():
    frame = pd.DataFrame(dict(auc=[0.93, np.nan], auc_lo=[0.851, np.nan], auc_hi=[0.99, np.nan],
                              tpr=[0.5, 0.0], tpr_lo=[0.2, np.nan], tpr_hi=[0.8, np.nan]), index=["a", "b"])
    shown = analysis.interval_columns(frame, {"AUC": ("auc", ".2f"), "TPR %": ("tpr", "%")})
    assert shown.loc["a"].tolist() == ["0.93 [0.85, 0.99]", "50 [20, 80]"]
    assert shown.loc["b"].tolist() == ["", "0"]


def test_defence_counts_pool_the_runs():
    defence = pd.DataFrame(dict(round=[1, 1, 1, 2, 2, 2], client=[0, 1, 2] * 2, malicious=[True, False, False] * 2,
                                accepted=pd.array([False, True, False, True, True, True], dtype="boolean")))
    one = analysis.defence_counts(run(pd.DataFrame(), defence))
    assert one == dict(attackers_flagged=1, attacker_rounds=2, honest_flagged=1, honest_rounds=4)
    two = analysis.defence_counts([run(pd.DataFrame(), defence)] * 2)
    assert two == {key: 2 * value for key, value in one.items()}
    undecided = defence.assign(accepted=pd.array([pd.NA] * 6, dtype="boolean"))
    assert set(analysis.defence_counts(run(pd.DataFrame(), undecided)).values()) == {0}


def test_layer_aucs_pool_the_runs_per_tensor_in_the_models_order():
    def updates(seed):
        rng = np.random.default_rng(seed)
        rows = []
        for round_ in (1, 2, 3):
            for client in range(6):
                for layer, shift in (("conv.weight", 0.0), ("fc.bias", 5.0)):
                    value = rng.normal() + (shift if client == 0 else 0.0)
                    rows.append(dict(round=round_, client=client, malicious=client == 0, layer=layer,
                                     max_abs_deviation=value, cosine_to_mean=-value))
        return flsim.Results(flsim.Config(), {"updates": pd.DataFrame(rows)})

    table = analysis.layer_aucs([updates(0), updates(1)])
    assert table.layer.tolist() == ["conv.weight", "fc.bias"]
    assert table.attacker_rounds.tolist() == [6, 6] and table.honest_rounds.tolist() == [30, 30]
    assert ((table.auc_lo <= table.auc) & (table.auc <= table.auc_hi)).all()
    assert table.auc.iloc[1] == 1.0 and table.auc_lo.iloc[1] < 1.0  # perfect, with a width all the same
    # cosine_to_mean is an anomaly when low: oriented so the same attacker gives the same AUC.
    assert analysis.layer_aucs([updates(0)], "cosine_to_mean").auc.tolist() == pytest.approx(
        analysis.layer_aucs([updates(0)]).auc.tolist())


def test_count_text_gives_the_count_and_its_interval():
    assert analysis.count_text(4, 36) == "4 of 36 (11% [4%, 25%])"
    assert analysis.count_text(0, 36, ".1%") == "0 of 36 (0.0% [0.0%, 9.6%])"
    assert analysis.count_text(0, 0) == "0 of 0"
