"""Chapter 9's stress tests of chapter 8's detectors and defences: the runs (:func:`plan`), and per
test its table and the numbers and words the chapter glues: when the attacker comes
(:func:`schedule_table`), an attacker bound to an honest update's norm (:func:`norm_table`) and
non-IID clients (:func:`skew_table`); the adaptive attacker and the verdict are
:mod:`flsim.analysis.evasion`'s. Sentences are built here from :mod:`flsim.analysis.words`'
primitives; a chapter builds none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..config import DATASET_SIZES
from ..semantic import set_words
from .detection import defence_summary, detection_report, detection_summary, flag
from .words import count_text, dataset_words, interval_columns, plural, row_interval_text

PAPER = "output_bias_max"  # the paper's statistic as a detector


def over_seeds(config, seeds) -> list:
    """``config`` once per seed."""
    return [config.replace(seed=s) for s in seeds]


def norm_bound(plain, factor: float = 1.0) -> float:
    """The constrained attacker's L2 ball: ``factor`` times the median norm of an honest client's update in
    the run ``plain`` (its update_norm detector's scores), rounded to 4 digits."""
    detection = plain.detection
    honest = detection[(detection.detector == "update_norm") & ~detection.malicious.astype(bool)].score
    return round(factor * float(honest.median()), 4)


@dataclass
class Plan:
    """Chapter 9's runs by stress test (``groups``: test -> label -> configs, one or one per seed), in the
    order :func:`flsim.sweep` runs them (``configs``); ``Plan.split`` gives the results back the same way."""

    groups: dict

    @property
    def configs(self) -> list:
        return [c for group in self.groups.values() for configs in group.values() for c in configs]

    def split(self, results) -> dict:
        done = iter(results)
        return {name: {label: [next(done) for _ in configs] for label, configs in group.items()}
                for name, group in self.groups.items()}


def plan(base, replacement, seeds, bound: float, schedule_rounds: int, clients_per_round: int,
         attack_round: int, aggregator_values, dirichlet_alpha_values, other_semantic_set: str) -> Plan:
    """Chapter 9's new runs from its parameters (``base``: the semantic attacker under FedAvg;
    ``replacement``: its model-replacement twin):

    - ``schedules``: a replacement attacker (scaled by the clients per round) present in every round,
      drawn from the pool, or attacking once in ``attack_round``, on the first seed;
    - ``constrained``: the replacement attacker projected onto the norm ball ``bound`` under each
      defence, FedAvg on every seed (the detectors' AUCs are read there), the others on the first;
    - ``adaptive``: the attacker that submits a clean output bias or output layer, plain and under
      replacement (the clean bias on every seed, the rest on the first), and behind the bias filter;
    - ``skewed``: the semantic attacker on Dirichlet(alpha) label skew, every seed;
    - ``other_side``: the replacement attacker, plain and with a clean output bias, on
      ``other_semantic_set`` (chapter 4's other side), every seed; empty when that is "".
    """
    shots = base.replace(num_rounds=schedule_rounds, clients_per_round=clients_per_round,
                         attack_scale=float(clients_per_round))  # replacement: scale by the clients per round
    constrained = {d: [replacement.replace(aggregator=d, attack_norm_bound=bound)] for d in aggregator_values}
    constrained["fedavg"] = over_seeds(replacement.replace(aggregator="fedavg", attack_norm_bound=bound), seeds)
    other = replacement.replace(semantic_set=other_semantic_set or None)
    return Plan({
        "schedules": {"every round": [shots.replace(attack_schedule="every_round")], "pool": [shots],
                      "single shot": [shots.replace(attack_schedule="single_shot", attack_round=attack_round)]},
        "constrained": constrained,
        "adaptive": {("semantic", "output_bias"): over_seeds(base.replace(adaptive="output_bias"), seeds),
                     ("semantic", "output_layer"): [base.replace(adaptive="output_layer")],
                     ("replacement", "output_bias"): over_seeds(replacement.replace(adaptive="output_bias"), seeds),
                     ("replacement", "output_layer"): [replacement.replace(adaptive="output_layer")],
                     ("replacement", "output_bias, bias_filter"): [
                         replacement.replace(adaptive="output_bias", aggregator="bias_filter")]},
        "skewed": {alpha: over_seeds(base.replace(partition="dirichlet", dirichlet_alpha=alpha), seeds)
                   for alpha in dirichlet_alpha_values},
        "other_side": {"plain": over_seeds(other, seeds),
                       "output_bias": over_seeds(other.replace(adaptive="output_bias"), seeds)}
        if other_semantic_set else {},
    })


def run_numbers(runs: dict, base, seeds, clients_per_round: int) -> dict:
    """The overview's numbers of ``Plan.split``'s ``runs``: how many, their compute when they ran,
    those on the first seed only and what a further seed of them would cost, and the setting's words."""
    samples = base.samples_per_client or DATASET_SIZES[base.dataset][0] // (base.num_clients + 1)  # None: the deal
    results = [r for group in runs.values() for group_runs in group.values() for r in group_runs]
    first_only = [group_runs[0] for group in runs.values() for group_runs in group.values() if len(group_runs) == 1]
    return dict(first_seed_runs=len(first_only),
                first_seed_seconds=float(sum(r.rounds.seconds.sum() for r in first_only)),
                num_runs=len(results), compute_seconds=float(sum(r.rounds.seconds.sum() for r in results)),
                num_seeds=len(seeds), num_seeds_text=plural(len(seeds), "seed"), num_clients=base.num_clients,
                clients_per_round=clients_per_round, samples_per_client=base.samples_per_client,
                num_rounds_text=plural(base.num_rounds, "round"),
                sample_passes=base.num_clients * samples * base.num_rounds * base.local_epochs,
                dataset_name=dataset_words(base.dataset),
                poison_every=base.num_malicious * base.malicious_data_rate)  # positions 0, m*r, 2*m*r, ...


# chapter 4's axis

def axis_sets(default_set: str, other_semantic_set: str) -> list[str]:
    """The semantic sets to place on chapter 4's axis: the default, and the other side if any."""
    return list(dict.fromkeys([default_set, *([other_semantic_set] if other_semantic_set else [])]))


def axis_table(axis: pd.DataFrame) -> pd.DataFrame:
    """:func:`flsim.semantic.named_set_predictors`' table as the chapter shows it."""
    return axis.rename(index=set_words, columns=lambda c: c.replace("_", " ")).rename_axis("backdoor")


def axis_findings(scale: pd.Series, default_set: str, other_semantic_set: str) -> dict:
    """Where the default backdoor and the other side sit on chapter 4's axis (``scale``: activation scale
    per set), and what the law expects of them, in words."""
    lower, higher = scale.idxmin(), scale.idxmax()
    if not other_semantic_set:
        other_text = "not run here (`other_semantic_set` is empty)"
    elif scale[other_semantic_set] < scale[default_set]:
        other_text = (f"the {set_words(other_semantic_set)} (activation scale {scale[other_semantic_set]:.2f}), "
                      "where the law predicts that the output bias leads")
    else:
        other_text = (f"the {set_words(other_semantic_set)}, though here its activation scale "
                      f"({scale[other_semantic_set]:.2f}) is not below the default's")
    return dict(default_set_name=set_words(default_set), scale_default=float(scale[default_set]),
                other_set_name=set_words(other_semantic_set) if other_semantic_set else "none",
                scale_other=float(scale[other_semantic_set or default_set]), other_side_text=other_text,
                axis_note=f"the {set_words(higher)} sit higher on the axis ({scale[higher]:.2f} against "
                          f"{scale[lower]:.2f}), so the law expects the output bias to stand out less for them "
                          f"than for the {set_words(lower)}" if lower != higher else
                          f"the {set_words(default_set)} sit at {scale[default_set]:.2f}")


# 1. When the attacker comes

def schedule_table(schedules: dict) -> pd.DataFrame:
    """Per schedule (one run each): the rounds attacked, the peak (after round 0) and final backdoor
    accuracy, and the paper's statistic's ROC-AUC, TPR and its false alarms in rounds without an attacker."""
    rows = []
    for label, (r,) in schedules.items():
        summary = detection_summary(r.detection).set_index("detector").loc[PAPER]
        backdoor = r.rounds.set_index("round").backdoor_accuracy
        attacked = r.detection[r.detection.malicious.astype(bool)]["round"].nunique()
        rows.append({"schedule": label, "rounds attacked": attacked, "peak": backdoor.iloc[1:].max(),
                     "final": backdoor.iloc[-1], "AUC": summary.auc, "TPR": summary.tpr,
                     "FPR, no attacker": summary.clean_round_fpr})
    return pd.DataFrame(rows).set_index("schedule")


def half_life(backdoor: pd.Series, attack_round: int) -> int | None:
    """Rounds after ``attack_round`` until the backdoor accuracy (per round) falls below half its value in
    that round; None if it never does."""
    after = backdoor.loc[attack_round:]
    below = after.index[after < 0.5 * after.iloc[0]]
    return int(below[0] - attack_round) if len(below) else None


def quiet_flags(detection: pd.DataFrame, detector: str = PAPER) -> tuple[int, int]:
    """Of the clients in rounds without an attacker: how many the outlier rule (:func:`~flsim.analysis.flag`) flags on
    ``detector``, and how many there are."""
    detection = detection.assign(flagged=flag(detection))
    attacked = detection.groupby(["round", "detector"]).malicious.transform("any").astype(bool)
    quiet = detection[(detection.detector == detector) & ~attacked]
    return int(quiet.flagged.sum()), len(quiet)


def schedule_findings(schedules: dict, table: pd.DataFrame, attack_round: int, schedule_rounds: int) -> dict:
    """The schedules' numbers for the text: the single shot's backdoor in its round, the next and the last,
    its half-life, the pool attacker's rounds and peak, the every-round attacker's peak and end, the
    single shot's false alarms, and whether the backdoor outlasts the attack."""
    shot = schedules["single shot"][0]
    backdoor = shot.rounds.set_index("round").backdoor_accuracy
    after = backdoor.loc[attack_round:]
    rounds = half_life(backdoor, attack_round)
    every, single = table.loc["every round"], table.loc["single shot"]
    if single.final >= 0.5 * single.peak:
        persist = "the single shot's backdoor outlasts the attack: it ends above half its peak"
    elif every.final >= 0.5 * every.peak:
        persist = "the backdoor lasts about as long as the attacker keeps replacing the model"
    else:
        persist = "even the attacker present in every round does not keep its backdoor to the end"
    return dict(schedule_rounds_text=plural(schedule_rounds, "round"), attack_round=attack_round,
                shot_peak=float(after.iloc[0]),
                shot_next=f"{after.iloc[1]:.0%}" if len(after) > 1 else "not measured (the run ends)",
                shot_final=float(backdoor.iloc[-1]),
                shot_half_life="more than the run" if rounds is None else plural(rounds, "round"),
                pool_attacked=int(table["rounds attacked"]["pool"]), pool_peak=float(table.peak["pool"]),
                every_peak=float(every.peak), every_final=float(every.final),
                shot_clean_flags=count_text(*quiet_flags(shot.detection)), persist_note=persist)


# 2. A distance-constrained attacker

def norm_table(without_bound, constrained: dict, defences) -> pd.DataFrame:
    """Per defence of ``defences`` (rows): the backdoor's peak without the bound (``without_bound``, the
    same attacks in that order) and with it (``constrained``: defence -> runs, the first read), and the
    share of the constrained attacker's rounds the defence flags (NaN for a rule that decides nothing)."""
    with_bound = [defence_summary(constrained[d][0]) for d in defences]
    return pd.DataFrame({"unconstrained peak": [defence_summary(r)["backdoor_peak"] for r in without_bound],
                         "constrained peak": [s["backdoor_peak"] for s in with_bound],
                         "constrained TPR": [s["tpr"] for s in with_bound]},
                        index=pd.Index(list(defences), name="defence"))


def reports(runs: dict) -> dict:
    """:func:`~flsim.analysis.detection_report` (indexed by detector) of each label's runs."""
    return {label: detection_report(group).set_index("detector") for label, group in runs.items()}


def auc_columns(reports: dict) -> pd.DataFrame:
    """One column of "auc [lo, hi]" per report of :func:`reports`, headed "<label> AUC"."""
    return pd.concat([interval_columns(report, {f"{label} AUC": ("auc", ".2f")})
                      for label, report in reports.items()], axis=1)


def clearly(a: pd.Series, b: pd.Series) -> str:
    """Which of two report rows' AUCs is higher where their intervals do not overlap: "first", "second",
    or "neither"."""
    return "first" if a.auc_lo > b.auc_hi else "second" if b.auc_lo > a.auc_hi else "neither"


def norm_findings(table: pd.DataFrame, pair: dict) -> dict:
    """The norm-bounded attacker's numbers for the text, from :func:`norm_table` and the reports
    ``pair`` ("unconstrained", "constrained": the undefended runs without and with the bound)."""
    before, after = pair["unconstrained"], pair["constrained"]
    paper, norm = after.loc[PAPER], after.loc["update_norm"]
    best = after.auc.idxmax()
    kept = table.loc["fedavg", "constrained peak"] >= 0.5 * table.loc["fedavg", "unconstrained peak"]
    note = {"first": "the norm ball limits the update's size, not where it is concentrated: the output-bias "
                     "statistic sees the constrained attacker better than its update norm",
            "second": "here the update norm sees the constrained attacker better than the output-bias statistic",
            "neither": "the two AUCs' intervals overlap, so these client-rounds do not tell which of the two "
                       "sees the constrained attacker better"}[clearly(paper, norm)]
    return dict(constrained_peak=float(table.loc["fedavg", "constrained peak"]),
                unconstrained_peak=float(table.loc["fedavg", "unconstrained peak"]),
                constrained_norm_auc=float(norm.auc), constrained_norm_auc_ci=row_interval_text(norm, "auc"),
                unconstrained_norm_auc_ci=row_interval_text(before.loc["update_norm"], "auc"),
                constrained_paper_auc=float(paper.auc), constrained_paper_auc_ci=row_interval_text(paper, "auc"),
                unconstrained_paper_auc_ci=row_interval_text(before.loc[PAPER], "auc"),
                constrained_filter_tpr=float(table.loc["bias_filter", "constrained TPR"])
                if "bias_filter" in table.index else float("nan"),
                constrained_best=str(best), constrained_best_auc=float(after.auc.max()),
                constrained_best_auc_ci=row_interval_text(after.loc[best], "auc"),
                constrained_cost="in this seed it keeps most of its backdoor" if kept
                else "in this seed staying small costs it the backdoor",
                norm_note=note)


# 4. Non-IID clients

def skew_frame(skewed: dict) -> pd.DataFrame:
    """:func:`~flsim.analysis.detection_summary` of every non-IID run (one row per alpha, seed and detector)."""
    return pd.concat([detection_summary(r.detection).assign(dirichlet_alpha=alpha)
                      for alpha, runs in skewed.items() for r in runs], ignore_index=True)


def skew_table(at_skew: pd.DataFrame, iid: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per detector: the false-positive rate (%) at Dirichlet ``alpha`` and in the IID runs, and the AUC at
    ``alpha``, each "value [lo, hi]" (reports indexed by detector)."""
    return pd.concat([interval_columns(at_skew, {f"FPR % (alpha {alpha:g})": ("fpr", "%")}),
                      interval_columns(iid, {"FPR % (IID)": ("fpr", "%")}),
                      interval_columns(at_skew, {f"AUC (alpha {alpha:g})": ("auc", ".2f")})], axis=1)


def skew_findings(at_skew: pd.DataFrame, iid: pd.DataFrame, alpha: float) -> dict:
    """The non-IID runs' numbers for the text: the paper's statistic's false alarms at ``alpha`` and in the
    IID runs, its AUC and the per-class score's, the detector with the most false alarms and the best AUC."""
    worst, best = at_skew.fpr.idxmax(), at_skew.auc.idxmax()
    paper, per_class = at_skew.loc[PAPER], at_skew.loc["output_bias_class"]
    better = {"first": "better than", "second": "worse than",
              "neither": "not distinguishable, by the two intervals, from"}[clearly(per_class, paper)]
    return dict(skew_alpha=float(alpha), paper_fpr_skew=float(paper.fpr),
                paper_fpr_skew_ci=row_interval_text(paper, "fpr", ".1%"),
                paper_fpr_skew_count=f"{round(paper.fpr * paper.honest_rounds)} of {int(paper.honest_rounds)}",
                paper_fpr_iid=float(iid.fpr[PAPER]), paper_fpr_iid_ci=row_interval_text(iid.loc[PAPER], "fpr", ".1%"),
                paper_auc_skew=float(paper.auc), paper_auc_skew_ci=row_interval_text(paper, "auc"),
                class_auc_skew=float(per_class.auc), class_auc_skew_ci=row_interval_text(per_class, "auc"),
                class_vs_max=better, worst_fpr_detector=str(worst), worst_fpr=float(at_skew.fpr[worst]),
                worst_fpr_ci=row_interval_text(at_skew.loc[worst], "fpr", ".1%"),
                best_auc_skew_detector=str(best), best_auc_skew=float(at_skew.auc[best]),
                best_auc_skew_ci=row_interval_text(at_skew.loc[best], "auc"))


def findings(found: dict, scale: pd.Series) -> dict:
    """The findings table of chapter 9 (label -> value) from its glued numbers ``found``."""
    f = found
    return {
        "new runs": f["num_runs"],
        "seeds of the non-IID, undefended norm-bounded and adaptive runs": f["num_seeds"],
        "single shot: backdoor accuracy in its round, next round, final":
            f"{f['shot_peak']:.0%}, {f['shot_next']}, {f['shot_final']:.0%}",
        "single shot: below half its peak after": f["shot_half_life"],
        "attacker in every round: peak, final backdoor accuracy": f"{f['every_peak']:.0%}, {f['every_final']:.0%}",
        "pool attacker: rounds attacked": f"{f['pool_attacked']} of {f['schedule_rounds_text']}",
        "norm bound (L2)": f["bound"],
        "norm-bounded attacker: update-norm / output-bias ROC-AUC":
            f"{f['constrained_norm_auc_ci']} / {f['constrained_paper_auc_ci']}",
        "norm-bounded attacker: undefended peak backdoor accuracy":
            f"{f['constrained_peak']:.0%} (unbounded: {f['unconstrained_peak']:.0%})",
        "adaptive attacker: fc2.bias ROC-AUC": f"{f['adaptive_bias_auc_ci']} (plain: {f['plain_bias_auc_ci']})",
        "adaptive attacker: other tensors with ROC-AUC ≥ 0.9, clear of chance":
            f"{f['adaptive_separating']} of {f['other_tensors']}",
        "adaptive replacement: output-bias ROC-AUC": f["repl_bias_paper_auc_ci"],
        "adaptive replacement: peak backdoor accuracy given up (points)": f["repl_bias_loss_ci"],
        "activation scale (chapter 4's axis)": ", ".join(f"{set_words(s)} {v:.2f}" for s, v in scale.items()),
        f"adaptive replacement on the {f['other_set_name']}: output-bias ROC-AUC": f["other_bias_auc_ci"],
        f"adaptive replacement on the {f['other_set_name']}: peak given up (points)": f["other_bias_loss_ci"],
        "runs on the first seed only (no verdict rests on them)": f["first_seed_runs"],
        f"alpha = {f['skew_alpha']:g}: honest client-rounds the output-bias rule flags":
            f"{f['paper_fpr_skew_ci']} (IID: {f['paper_fpr_iid_ci']})",
    }
