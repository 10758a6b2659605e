"""Chapter 7 with tiny parameters: 5 clients x 60 samples, 2 rounds, four defences (Krum needs 5 clients)."""

import math

TINY = dict(num_clients=5, samples_per_client=60, num_rounds=2, eval_samples=100, server_share=0.05,
            dba_attackers=2, defences=["fedavg", "krum", "foolsgold", "bias_filter"])


def test_chapter_07(run_chapter):
    values = run_chapter("07_detection_defences", **TINY)
    assert values["num_runs"] == 4 * 4 + 1  # attacks x defences + the attack-free run
    assert values["compute_seconds"] > 0
    for attack in ("semantic", "trigger", "replacement", "dba"):
        for name in (f"paper_auc_{attack}", f"best_auc_{attack}", f"paper_tpr_{attack}",
                     f"undefended_peak_{attack}"):
            assert 0 <= values[name] <= 1, name
        assert values[f"best_auc_{attack}"] >= values[f"paper_auc_{attack}"]
    assert 0 <= values["paper_best_count"] <= 4
    assert 0 <= values["paper_clean_fpr"] <= values["max_clean_fpr"] <= 1
    assert values["paper_rounds_semantic"] in ("never", "1", "2")
    assert 0 <= values["stopped_count"] <= 4
    assert (values["stopped_names"] == "none") == (values["stopped_count"] == 0)
    assert values["worst_cost_name"] in TINY["defences"]
    for name in ("filter_tpr_semantic", "filter_fpr_mean", "filter_peak_replacement", "filter_tpr_dba"):
        assert 0 <= values[name] <= 1 or math.isnan(values[name]), name
    assert "detector" in values["verdict"]
    assert 0 <= values["foolsgold_auc_max"] <= 1 and isinstance(values["working_attacks"], str)
    for name in ("foolsgold_fpr_lone", "foolsgold_tpr_lone", "foolsgold_peak_semantic"):
        assert 0 <= values[name] <= 1, name
    assert math.isfinite(values["foolsgold_cost"])
