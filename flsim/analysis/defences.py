"""Chapter 8's detectors and defences, as tables and as the values its text glues.

- :class:`DefenceRuns`: the chapter's runs by role: every attack under every defence on the first
  ``defence_seeds`` seeds, and the undefended runs of each attack, of the other semantic backdoors and
  without an attacker on every seed, which the detectors are judged on.
- :func:`defence_table` and :func:`replacement_tables`: each attack x defence over the defence seeds,
  accuracies as a mean with a Student-t interval, flags as pooled shares with Wilson intervals; who
  halves the model-replacement backdoor and what each defence costs the main task.
- :func:`findings`: the chapter's findings table. The detectors' tables and the verdict are
  :mod:`flsim.analysis.detector_tables`'.

Every sentence is built from :mod:`flsim.analysis.words`' primitives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..config import DATASET_SIZES
from ..detectors import DETECTORS
from ..semantic import set_words
from .detection import defence_counts, defence_summary
from .detector_tables import glue_keys
from .statistics import mean_interval, wilson_interval
from .words import count_text, dataset_words, interval_columns, interval_text, plural, row_interval_text

ACCURACIES = ["main_accuracy", "backdoor_accuracy", "backdoor_peak"]
FLAG_COUNTS = {"tpr": ("attackers_flagged", "attacker_rounds"), "fpr": ("honest_flagged", "honest_rounds")}


@dataclass
class DefenceRuns:
    """Chapter 8's runs. ``attacks``: attack name -> the Config fields it changes (the defence runs and
    the detectors); ``others``: more semantic backdoors, judged by the detectors only; ``defences``: the
    aggregation rules, the first the undefended baseline. Every attack runs under every defence on the
    first ``defence_seeds`` of ``seeds``; each attack, each other backdoor and a run without an attacker
    run undefended on every seed. :meth:`run` fills ``runs`` ((attack, defence, seed) -> Results) and
    ``by_seed`` ((attack or "none", seed) -> the undefended Results)."""

    base: object
    attacks: dict
    others: dict
    defences: list
    seeds: list
    defence_seeds: int
    runs: dict = field(default_factory=dict)
    by_seed: dict = field(default_factory=dict)

    @property
    def judged(self) -> dict:
        """Every backdoor the detectors judge, the attacks and then the other semantic backdoors."""
        return {**self.attacks, **self.others}

    @property
    def defence_seed_list(self) -> list:
        return list(self.seeds[:self.defence_seeds])

    def _keys(self) -> tuple[list, list]:
        return ([(a, d, s) for a in self.attacks for d in self.defences for s in self.defence_seed_list],
                [(a, s) for a in [*self.judged, "none"] for s in self.seeds])

    @property
    def configs(self) -> list:
        keys, judged = self._keys()
        return ([self.base.replace(aggregator=d, seed=s, **self.attacks[a]) for a, d, s in keys]
                + [self.base.replace(aggregator=self.defences[0], seed=s,
                                     **self.judged.get(a, dict(attack="none"))) for a, s in judged])

    def run(self, sweep) -> DefenceRuns:
        """Run ``configs`` with ``sweep`` (``flsim.sweep``: the result cache shares every run it has)."""
        keys, judged = self._keys()
        results = sweep(self.configs)
        self.runs, self.by_seed = dict(zip(keys, results)), dict(zip(judged, results[len(keys):]))
        self.distinct = {r.config.key(): r for r in results}  # the undefended defence runs serve both
        return self

    @property
    def clean(self) -> list:
        """The runs without an attacker, one per seed."""
        return [self.by_seed["none", s] for s in self.seeds]

    def attacked(self, attack: str) -> list:
        """The undefended runs of ``attack`` (or another backdoor), one per seed."""
        return [self.by_seed[attack, s] for s in self.seeds]

    def values(self) -> dict:
        """The runs' counts and costs, for the text: the defence runs that the detection runs do not
        share (all seeds; the seeds after the first, what pooling the defence table over seeds added)."""
        keys, first = self._keys()[0], self.defences[0]
        seconds = {key: float(r.rounds.seconds.sum()) for key, r in self.runs.items()}
        return dict(num_runs=len(self.distinct), num_defence_runs=len(keys),
                    num_detection_runs=len(self.distinct) - len(keys), num_seeds=len(self.seeds),
                    num_seeds_text=plural(len(self.seeds), "seed"), defence_seeds=self.defence_seeds,
                    defence_seeds_text=plural(self.defence_seeds, "seed"),
                    defence_seconds=float(sum(t for (a, d, s), t in seconds.items() if d != first)),
                    defence_extra_seconds=float(sum(t for (a, d, s), t in seconds.items()
                                                    if d != first and s != self.seeds[0])),
                    defence_seed_runs=sum(d != first for a, d, s in keys if s == self.seeds[0]),
                    defence_extra_runs=sum(d != first for a, d, s in keys if s != self.seeds[0]),
                    num_other_runs=len(self.others) * len(self.seeds),
                    judged_text="every attack" + "".join(f", of the {a}" for a in self.others),
                    compute_seconds=float(sum(r.rounds.seconds.sum() for r in self.distinct.values())),
                    num_attacks=len(self.attacks))


def setting_values(base, dba_attackers: int) -> dict:
    """``base``'s settings as the text names them (chapter 8): its size, training and defences' settings."""
    deal = -(-DATASET_SIZES[base.dataset][0] // (base.num_clients + 1))  # the server's deal, at most
    samples = base.samples_per_client or DATASET_SIZES[base.dataset][0] // (base.num_clients + 1)
    return dict(num_rounds=base.num_rounds, num_clients=base.num_clients,
                samples_per_client=base.samples_per_client,
                local_training=f"{plural(base.local_epochs, 'local epoch')} (lr {base.lr:g}, batch {base.batch_size})",
                sample_passes=base.num_clients * samples * base.num_rounds * base.local_epochs,
                server_samples=round(base.server_share * deal),
                eval_text=f"{base.eval_samples} test images" if base.eval_samples else "all test images",
                poison_every=base.malicious_data_rate, dba_attackers=dba_attackers,
                # DBA's attackers share the poison: positions 0, m*r, 2*m*r, ...
                dba_dose=dba_attackers * base.malicious_data_rate, num_detectors=len(DETECTORS),
                krum_f=base.krum_f, krum_assumes=plural(base.krum_f, "attacker"),
                multi_krum_kept=base.num_chosen - base.krum_f, trim_fraction=base.trim_fraction,
                rlr_threshold=base.rlr_threshold, filter_z=base.filter_z, dataset_name=dataset_words(base.dataset))


def _pooled(per_run: pd.DataFrame, runs: DefenceRuns, attack: str, rule: str) -> dict:
    """One row of the defence table: ``attack`` against ``rule`` over the defence seeds."""
    part, row = per_run[(per_run.attack == attack) & (per_run.aggregator == rule)], {}
    for column in ACCURACIES:
        mean, lo, hi = mean_interval(part[column])
        row |= {column: mean, f"{column}_lo": max(lo, 0.0) if lo == lo else lo,
                f"{column}_hi": min(hi, 1.0) if hi == hi else hi}
    counts = defence_counts([runs.runs[attack, rule, s] for s in runs.defence_seed_list])
    for column, (k, n) in FLAG_COUNTS.items():
        rate = counts[k] / counts[n] if counts[n] else float("nan")
        row |= dict(zip((column, f"{column}_lo", f"{column}_hi"), (rate, *wilson_interval(counts[k], counts[n]))))
    return dict(attack=attack, aggregator=rule, **row)


def defence_table(runs: DefenceRuns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per run, pooled): :func:`flsim.analysis.defence_summary` of each defence run (columns attack,
    aggregator, seed), and each attack x defence over the defence seeds: accuracies as the mean over seeds
    with a Student-t interval cut to [0, 1], flags (tpr, fpr) as the share of the seeds' client-rounds with
    a Wilson interval."""
    per_run = pd.DataFrame([dict(attack=a, aggregator=d, seed=s, **defence_summary(r))
                            for (a, d, s), r in runs.runs.items()])
    table = pd.DataFrame([_pooled(per_run, runs, a, d) for a in runs.attacks for d in runs.defences])
    return per_run, table


def defence_tables(table: pd.DataFrame) -> list[pd.DataFrame]:
    """The pooled defence table as the chapter shows it: accuracies (%), then flags (%), with intervals."""
    indexed = table.set_index(["attack", "aggregator"])
    return [interval_columns(indexed, {"main": ("main_accuracy", "%"), "backdoor, final": ("backdoor_accuracy", "%"),
                                       "backdoor, peak": ("backdoor_peak", "%")}),
            interval_columns(indexed, {"TPR": ("tpr", "%"), "FPR": ("fpr", "%")})]


@dataclass
class Replacement:
    """What the defences do against model replacement and cost the main task (chapter 8). ``halved``: per
    defence, in how many of the ``seeds`` its peak is at most half that seed's undefended peak;
    ``cost_ci``: per defence, its main accuracy against FedAvg's in points, each seed's mean over the
    attacks, then (mean, lo, hi) over the seeds; ``costs``: the same, means over everything (a share)."""

    undefended: pd.DataFrame
    replaced: pd.DataFrame
    stopped: list
    halved: pd.Series
    seeds: int
    cost_ci: dict
    costs: pd.Series


def replacement(per_run: pd.DataFrame, table: pd.DataFrame, defences: list, attack: str = "replacement") -> Replacement:
    """:class:`Replacement` from :func:`defence_table`'s tables; ``defences[0]`` is the undefended rule."""
    undefended = table[table.aggregator == defences[0]].set_index("attack")
    replaced = table[table.attack == attack].set_index("aggregator")
    stopped = replaced.index[replaced.backdoor_peak <= 0.5 * undefended.backdoor_peak[attack]].tolist()
    peaks = per_run[per_run.attack == attack].pivot(index="seed", columns="aggregator", values="backdoor_peak")
    halved = peaks.le(0.5 * peaks[defences[0]], axis=0).sum()
    main = per_run.groupby(["seed", "aggregator"]).main_accuracy.mean().unstack("aggregator")
    seed_costs = 100 * main.sub(main[defences[0]], axis=0)
    costs = table.groupby("aggregator").main_accuracy.mean() - undefended.main_accuracy.mean()
    return Replacement(undefended, replaced, stopped, halved, len(peaks),
                       {d: mean_interval(seed_costs[d]) for d in defences}, costs)


def replacement_tables(found: Replacement, defences: list) -> list[pd.DataFrame]:
    """The undefended peaks per attack, then each defence against model replacement: its peak (mean over
    seeds), the seeds in which it halves that seed's undefended peak, and its main accuracy against FedAvg's."""
    peak = {"p": ("backdoor_peak", "%")}
    return [pd.DataFrame({"undefended peak backdoor accuracy %": interval_columns(found.undefended, peak).p}),
            pd.DataFrame({"replacement peak %": interval_columns(found.replaced, peak).p.loc[defences],
                          "halves it in seeds": [f"{found.halved[d]} of {found.seeds}" for d in defences],
                          "main vs FedAvg": [interval_text(*found.cost_ci[d], ".1f") for d in defences]},
                         index=defences).rename_axis("defence")]


def defence_values(table: pd.DataFrame, found: Replacement, runs: DefenceRuns) -> dict:
    """The defences in the text: the undefended peaks, the attacks that work, who halves the replacement
    backdoor, the costliest defence; the bias filter's and FoolsGold's flags where they ran."""
    undefended, n = found.undefended, found.seeds
    values = {}
    for a in runs.attacks:
        values |= {f"undefended_peak_{a.lower()}": float(undefended.backdoor_peak[a]),
                   f"undefended_peak_{a.lower()}_ci": row_interval_text(undefended.loc[a], "backdoor_peak", ".0%")}
    worst = found.costs.idxmin()
    mean, lo, hi = found.cost_ci[worst]
    values |= dict(undefended_main=float(undefended.main_accuracy.mean()), stopped_count=len(found.stopped),
                   working_attacks=", ".join(a for a in runs.attacks if undefended.backdoor_peak[a] >= 0.5) or "none",
                   stopped_names=", ".join(f"{d} ({found.halved[d]} of {n}{' seeds' * (i == 0)})"
                                           for i, d in enumerate(found.stopped)) or "none",
                   worst_cost_name=str(worst), worst_cost=float(-100 * found.costs.min()),
                   # points below FedAvg: the cost's mean and interval turned round
                   worst_cost_ci=interval_text(-mean, -hi, -lo, ".1f"))
    if "bias_filter" in runs.defences:
        values |= _filter_values(table, runs)
    if "foolsgold" in runs.defences:
        values |= _foolsgold_values(table, found, runs)
    return values


def _flags(runs: DefenceRuns, rule: str, attacks) -> dict:
    return defence_counts([runs.runs[a, rule, s] for a in attacks for s in runs.defence_seed_list])


def _filter_values(table: pd.DataFrame, runs: DefenceRuns) -> dict:
    filt = table[table.aggregator == "bias_filter"].set_index("attack")
    on_semantic, on_dba = _flags(runs, "bias_filter", ["semantic"]), _flags(runs, "bias_filter", ["DBA"])
    honest = _flags(runs, "bias_filter", runs.attacks)
    return dict(filter_tpr_semantic=float(filt.tpr["semantic"]),
                filter_semantic_flags=f"{on_semantic['attackers_flagged']} of {on_semantic['attacker_rounds']}",
                filter_fpr_mean=float(filt.fpr.mean()),
                filter_honest_flags=count_text(honest["honest_flagged"], honest["honest_rounds"]),
                filter_peak_replacement=float(filt.backdoor_peak["replacement"]),
                filter_peak_replacement_ci=row_interval_text(filt.loc["replacement"], "backdoor_peak", ".0%"),
                filter_tpr_dba=float(filt.tpr["DBA"]),
                filter_dba_flags=f"{on_dba['attackers_flagged']} of {on_dba['attacker_rounds']}")


def _foolsgold_values(table: pd.DataFrame, found: Replacement, runs: DefenceRuns) -> dict:
    fools = table[table.aggregator == "foolsgold"].set_index("attack")
    lone = _flags(runs, "foolsgold", [a for a in runs.attacks if a != "DBA"])
    tpr_ci = wilson_interval(lone["attackers_flagged"], lone["attacker_rounds"])
    fpr_ci = wilson_interval(lone["honest_flagged"], lone["honest_rounds"])
    # A comparison of two rates holds only where their intervals do not overlap.
    note = ("FoolsGold turns against its purpose here: it flags honest clients more often than the lone "
            "attackers" if fpr_ci[0] > tpr_ci[1] else
            "FoolsGold flags the lone attackers more often than honest clients here" if tpr_ci[0] > fpr_ci[1] else
            "Pooled over these seeds, FoolsGold's flags do not tell the lone attackers from honest clients: the "
            "two rates' intervals overlap")
    return dict(foolsgold_fpr_lone=float(lone["honest_flagged"] / lone["honest_rounds"]),
                foolsgold_tpr_lone=float(lone["attackers_flagged"] / lone["attacker_rounds"]),
                foolsgold_honest_flags=count_text(lone["honest_flagged"], lone["honest_rounds"]),
                foolsgold_attacker_flags=count_text(lone["attackers_flagged"], lone["attacker_rounds"]),
                foolsgold_peak_semantic=float(fools.backdoor_peak["semantic"]),
                foolsgold_peak_semantic_ci=row_interval_text(fools.loc["semantic"], "backdoor_peak", ".0%"),
                foolsgold_cost=float(-100 * found.costs["foolsgold"]), foolsgold_note=note)


def findings(found: dict, runs: DefenceRuns, scale: pd.Series) -> dict:
    """The findings table's rows (label -> value) from the chapter's glued values ``found``."""
    numbers = {"runs": found["num_runs"], "seeds of the detection runs": found["num_seeds"],
               "seeds of the defence runs": found["defence_seeds"],
               "attacking / honest client-rounds per lone attack":
                   f"{found['attacker_rounds_lone']} / {found['honest_rounds_lone']}",
               "activation scale (chapter 4's axis)": ", ".join(f"{set_words(s)} {v:.2f}" for s, v in scale.items())}
    for a, key in glue_keys(runs).items():
        numbers[f"{a}: output-bias statistic's ROC-AUC"] = found[f"paper_auc_{key}_ci"]
        numbers[f"{a}: highest ROC-AUC"] = f"{found[f'best_detector_{key}']} ({found[f'best_auc_{key}_ci']})"
        if a in runs.attacks:  # the other side runs undefended for the detectors only
            numbers[f"{a}: undefended peak backdoor accuracy"] = found[f"undefended_peak_{key}_ci"]
    numbers |= {"attacks where the output-bias statistic's AUC reaches the highest":
                    f"{found['paper_best_count']} of {len(runs.attacks)}",
                "honest client-rounds its outlier rule flags without an attack": found["paper_clean_fpr_ci"],
                "attacks whose backdoor peaks at 50% or more undefended": found["working_attacks"],
                "defences that at least halve the replacement backdoor": found["stopped_names"],
                "defence costing the most main accuracy":
                    f"{found['worst_cost_name']} ({found['worst_cost_ci']} points)"}
    if "bias_filter" in runs.defences:
        numbers |= {"bias filter: semantic attacker's rounds flagged": found["filter_semantic_flags"],
                    "bias filter: honest client-rounds flagged": found["filter_honest_flags"],
                    "bias filter: replacement backdoor's peak": found["filter_peak_replacement_ci"]}
    return numbers
