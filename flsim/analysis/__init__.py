"""Summaries of Results tables, by concern; every name is also ``flsim.analysis.<name>``, as the chapters
call them.

- :mod:`flsim.analysis.statistics`: ROC-AUC and its intervals, Wilson and Student-t intervals,
  bootstraps, rank correlations, power laws, thresholds (from scipy where it has them);
- :mod:`flsim.analysis.words`: how a measured number becomes text ("value [lo, hi]", "k of n", a verdict);
- :mod:`flsim.analysis.tensors`: which parameter tensor sets the attackers apart, and where one stands;
- :mod:`flsim.analysis.bias`: the output layer's bias from its gradient to its shift (chapters 1 and 3);
- :mod:`flsim.analysis.regimes`: chapter 4's map;
- :mod:`flsim.analysis.sweeps`: sweeps over one setting (chapters 5-7);
- :mod:`flsim.analysis.detection`: detectors and defences (chapters 8-10).

A chapter's own report (its runs, tables, glued values and verdict, built from the modules above) is a
module of its own, imported by name (``from flsim.analysis import law``), not re-exported: chapter 1
:mod:`~flsim.analysis.first_order`; chapter 2 :mod:`~flsim.analysis.federated_setup`; chapter 3
:mod:`~flsim.analysis.localisation_report` and :mod:`~flsim.analysis.localisation_verdict`; chapter 4
:mod:`~flsim.analysis.law`, :mod:`~flsim.analysis.strong` and :mod:`~flsim.analysis.paper` (its map's plan,
runs and reading are in :mod:`~flsim.analysis.regimes`); chapters 5-7 :mod:`flsim.sweep_chapter`;
chapter 8 :mod:`~flsim.analysis.detector_tables` and :mod:`~flsim.analysis.defences`; chapter 9
:mod:`~flsim.analysis.stress` and :mod:`~flsim.analysis.evasion`; chapter 10
:mod:`~flsim.analysis.location` and :mod:`~flsim.analysis.hiding`.
"""

from .bias import (BIAS_TERMS, bias_shift, bias_shift_settings, bias_term_shares, class_shift, client_gradients,
                   mean_overlap, output_bias_terms, output_layer_zscores)
from .detection import (clean_thresholds, defence_counts, defence_summary, detection_report, detection_summary,
                        flag, layer_aucs)
from .regimes import (SETTING, MapPlan, MapReading, MapRuns, attack_label, check_strong_attacks, first_rounds,
                      honest_spread, ratio_at_ceiling, regime, round_intervals, strength_text, tensor_lead,
                      tensor_presence, training_text)
from .statistics import (auc_bootstrap_interval, auc_interval, auc_score_interval, auc_standard_error,
                         bootstrap_mean, bootstrap_rank_correlation, mean_interval, power_law_exponent,
                         rank_correlation, rank_trend, ratio_interval, roc_auc, score_threshold, spearman,
                         t_quantile, tpr_at_fpr, wilson_interval)
from .sweeps import (evidence_table, poisoning_rule, seed_spread, shift_exponents, shift_table, sweep_auc,
                     sweep_evidence, sweep_ratio, sweep_run_table, sweep_runs, sweep_shift, sweep_summary,
                     tensor_table)
from .tensors import (LOW_IS_ANOMALOUS, anomaly_score, attacker_ranks, auc_table, layer_summary, round_ratio_draws,
                      tensor_standing)
from .words import (DATASET_WORDS, attackers_text, count_text, dataset_words, exponent_text, interval_columns,
                    interval_text, localisation_claim, per_value_text, plural, round_ranges, row_interval_text)

__all__ = [
    # statistics
    "auc_bootstrap_interval", "auc_interval", "auc_score_interval", "auc_standard_error", "bootstrap_mean",
    "bootstrap_rank_correlation", "mean_interval", "power_law_exponent", "rank_correlation", "rank_trend",
    "ratio_interval", "roc_auc", "score_threshold", "spearman", "t_quantile", "tpr_at_fpr", "wilson_interval",
    # words
    "DATASET_WORDS", "attackers_text", "count_text", "dataset_words", "exponent_text", "interval_columns",
    "interval_text", "localisation_claim", "per_value_text", "plural", "round_ranges", "row_interval_text",
    # tensors
    "LOW_IS_ANOMALOUS", "anomaly_score", "attacker_ranks", "auc_table", "layer_summary", "round_ratio_draws",
    "tensor_standing",
    # bias
    "BIAS_TERMS", "bias_shift", "bias_shift_settings", "bias_term_shares", "class_shift", "client_gradients",
    "mean_overlap", "output_bias_terms", "output_layer_zscores",
    # regimes
    "SETTING", "MapPlan", "MapReading", "MapRuns", "attack_label", "check_strong_attacks", "first_rounds",
    "honest_spread", "ratio_at_ceiling", "regime", "round_intervals", "strength_text", "tensor_lead",
    "tensor_presence", "training_text",
    # sweeps
    "evidence_table", "poisoning_rule", "seed_spread", "shift_exponents", "shift_table", "sweep_auc",
    "sweep_evidence", "sweep_ratio", "sweep_run_table", "sweep_runs", "sweep_shift", "sweep_summary",
    "tensor_table",
    # detection
    "clean_thresholds", "defence_counts", "defence_summary", "detection_report", "detection_summary", "flag",
    "layer_aucs",
]
