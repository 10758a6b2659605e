"""Chapter 10: where the backdoor lives in the attacker's model, against where its update is anomalous.

- :class:`LocationRuns`: the chapter's runs by role: every backdoor under every attack on every seed,
  each attack scaled on the first backdoor (undefended and under FLAME) and the runs without an attacker.
- :func:`model_table`, :func:`tensor_tables`, :func:`location_values`: :func:`flsim.localisation.taken_apart`'s
  substitution of the round-1 attackers' tensors, beside the paper's ratio and the attacker's z-score in
  the same round (:func:`round_one_anomaly`): where the backdoor lives, and whether the most anomalous
  tensor is one the backdoor needs.
- :func:`verdict`, :func:`findings`: the chapter's verdict and its findings table. The attackers that hide
  and FLAME are :mod:`flsim.analysis.hiding`'s.

Sentences are built from :mod:`flsim.analysis.words`' primitives; a chapter builds none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .detector_tables import BAR
from .regimes import first_rounds
from .statistics import bootstrap_mean
from .tensors import layer_summary
from .words import count_text, dataset_words, interval_text, plural, row_interval_text

DEFENCES = ("fedavg", "flame")  # section 3: each scaled attack undefended and under FLAME


@dataclass
class LocationRuns:
    """Chapter 10's runs. ``backdoors``: backdoor name -> the Config fields it sets; ``attacks``: attack name
    -> the fields it changes (the first, "plain", changes none). :meth:`run` fills ``runs`` ((backdoor,
    attack, seed) -> Results, every seed), ``strength`` ((attack, defence, seed) -> Results: the first
    backdoor, each attack scaled by ``attack_scale``, FedAvg and FLAME, on the first ``strength_seeds``
    seeds) and ``clean`` ((defence, seed) -> Results without an attacker: FedAvg on every seed, FLAME on
    the strength seeds)."""

    base: object
    backdoors: dict
    attacks: dict
    seeds: list
    strength_seeds: int
    attack_scale: float
    runs: dict = field(default_factory=dict)
    strength: dict = field(default_factory=dict)
    clean: dict = field(default_factory=dict)

    @property
    def strong(self) -> list:
        return list(self.seeds[:self.strength_seeds])

    @property
    def first_backdoor(self) -> str:
        return list(self.backdoors)[0]

    @property
    def hidden(self) -> list:
        """The attacks that hide from the output layer, all but the first (plain) one."""
        return list(self.attacks)[1:]

    def _keys(self) -> tuple[list, list, list]:
        return ([(b, a, s) for b in self.backdoors for a in self.attacks for s in self.seeds],
                [(a, d, s) for a in self.attacks for d in DEFENCES for s in self.strong],
                [(d, s) for d in DEFENCES for s in (self.seeds if d == DEFENCES[0] else self.strong)])

    @property
    def configs(self) -> list:
        judged, scaled, quiet = self._keys()
        base, first = self.base, self.backdoors[self.first_backdoor]
        return ([base.replace(seed=s, **self.backdoors[b], **self.attacks[a]) for b, a, s in judged]
                + [base.replace(seed=s, aggregator=d, attack_scale=self.attack_scale, **first, **self.attacks[a])
                   for a, d, s in scaled]
                + [base.replace(seed=s, aggregator=d, attack="none") for d, s in quiet])

    def run(self, sweep) -> LocationRuns:
        """Run ``configs`` with ``sweep`` (``flsim.sweep``: the result cache shares chapter 8's runs)."""
        judged, scaled, quiet = self._keys()
        results = sweep(self.configs)
        self.runs = dict(zip(judged, results))
        self.strength = dict(zip(scaled, results[len(judged):]))
        self.clean = dict(zip(quiet, results[len(judged) + len(scaled):]))
        self.distinct = {r.config.key(): r for r in results}
        return self

    def substitution_configs(self) -> dict:
        """(backdoor, seed) -> the config whose round-1 attacker :func:`flsim.localisation.taken_apart` takes
        apart: the plain attack of each backdoor on each seed."""
        return {(b, s): self.base.replace(seed=s, **self.backdoors[b]) for b in self.backdoors for s in self.seeds}

    @property
    def output_bias(self) -> str:
        """The output layer's bias, the paper's tensor, as the runs name it (e.g. "fc2.bias")."""
        return next(iter(self.runs.values())).output_bias_tensor

    def values(self) -> dict:
        """The runs' counts and the settings the text names."""
        base = self.base
        return dict(num_runs=len(self.distinct), num_seeds=len(self.seeds),
                    num_seeds_text=plural(len(self.seeds), "seed"),
                    strength_seeds_text=plural(len(self.strong), "seed"),
                    compute_seconds=float(sum(r.rounds.seconds.sum() for r in self.distinct.values())),
                    num_clients=base.num_clients, samples_per_client=base.samples_per_client,
                    num_rounds=base.num_rounds, poison_every=base.malicious_data_rate,
                    attack_scale=self.attack_scale, first_backdoor=self.first_backdoor,
                    dataset_name=dataset_words(base.dataset))


def round_one_anomaly(runs: LocationRuns, attack: str = "plain") -> pd.DataFrame:
    """:func:`flsim.analysis.layer_summary` of round 1 of each backdoor's ``attack`` runs, one block per
    backdoor and seed (columns backdoor, seed): where the earlier chapters find the anomaly, in the round
    whose attacker is taken apart."""
    return pd.concat([layer_summary(first_rounds(runs.runs[b, attack, s], 1).updates).assign(backdoor=b, seed=s)
                      for b in runs.backdoors for s in runs.seeds], ignore_index=True)


def _mean_anomaly(anomaly: pd.DataFrame) -> pd.DataFrame:
    return anomaly.groupby(["backdoor", "layer"], sort=False)[["ratio", "attacker_z"]].mean()


def _learned(located: pd.DataFrame) -> pd.DataFrame:
    """One row per attacker model, ``learned`` where its own backdoor accuracy beats the global model's."""
    models = located.drop_duplicates(["backdoor", "seed", "client"])
    return models.assign(learned=models.own_backdoor > models.global_backdoor)


def model_table(located: pd.DataFrame) -> pd.DataFrame:
    """Per backdoor, over its attacker models: their own backdoor accuracy (mean with a bootstrap interval),
    the global model's, and how many learned the backdoor."""
    by_backdoor = _learned(located).groupby("backdoor", sort=False)
    return pd.DataFrame({
        "attacker's own backdoor acc.": by_backdoor.own_backdoor.apply(
            lambda v: interval_text(*bootstrap_mean(v), ".0%")),
        "global model's": by_backdoor.global_backdoor.mean().map("{:.0%}".format),
        "models that learned it": by_backdoor.learned.apply(lambda v: f"{v.sum()} of {len(v)}"),
    }).rename_axis("backdoor")


def tensor_tables(located: pd.DataFrame, anomaly: pd.DataFrame, backdoors) -> dict:
    """Per backdoor (None where no attacker model learned it): each tensor's share alone and share removed
    (means over the models that learned it, bootstrap intervals), the models in which it is critical, and
    the paper's ratio and the attacker's z-score in round 1 (means over seeds)."""
    from ..localisation import tensor_shares  # flsim.localisation imports flsim.analysis: no import circle

    per_tensor, tables = tensor_shares(located).set_index(["backdoor", "tensor"]), {}
    mean_anomaly = _mean_anomaly(anomaly)
    for b in backdoors:
        if b not in per_tensor.index.get_level_values("backdoor"):
            tables[b] = None
            continue
        shares, anomalous = per_tensor.loc[b], mean_anomaly.loc[b]
        tables[b] = pd.DataFrame({
            "share alone": [row_interval_text(r, "share_alone", ".0%") for _, r in shares.iterrows()],
            "share removed": [row_interval_text(r, "share_removed", ".0%") for _, r in shares.iterrows()],
            "critical": [f"{c} of {m}" for c, m in zip(shares.critical, shares.models)],
            "ratio": anomalous.ratio.loc[shares.index].round(2).to_numpy(),
            "z-score": anomalous.attacker_z.loc[shares.index].round(1).to_numpy(),
        }, index=shares.index).rename_axis("tensor")
    return tables


def share_map(located: pd.DataFrame, backdoors) -> pd.DataFrame:
    """Each tensor's mean share alone (columns, model order) per backdoor (rows), for the heat map."""
    from ..localisation import tensor_shares  # flsim.localisation imports flsim.analysis: no import circle

    per_tensor = tensor_shares(located).set_index(["backdoor", "tensor"])
    return per_tensor.share_alone.unstack("tensor").reindex(index=list(backdoors),
                                                            columns=list(dict.fromkeys(located.tensor)))


def location_values(located: pd.DataFrame, anomaly: pd.DataFrame, backdoors, bias: str = "fc2.bias") -> dict:
    """Where the backdoor lives, for the text: ``home``, the tensor most often backdoor-critical in the
    attacker models that learned their backdoor, and in how many; its and the output bias ``bias``'s shares;
    how often the tensor with the largest ratio or z-score of its round is critical; the size of a critical
    set; the largest ratio per backdoor (mean over seeds); and the backdoor whose anomaly the output bias
    carries most (its largest mean z-score)."""
    from ..localisation import tensor_shares  # flsim.localisation imports flsim.analysis: no import circle

    learned, models = _learned(located), located[located.own_backdoor > located.global_backdoor]
    critical = models[models.critical]
    critical_sets = critical.groupby(["backdoor", "seed"]).tensor.apply(set)
    top = anomaly.set_index(["backdoor", "seed"]).groupby(level=[0, 1])
    top_ratio = top.apply(lambda g: g.layer.iloc[g.ratio.argmax()])
    top_z = top.apply(lambda g: g.layer.iloc[g.attacker_z.argmax()])
    keys, mean_anomaly = critical_sets.index, _mean_anomaly(anomaly)
    home = str(critical.tensor.value_counts().idxmax()) if len(keys) else "none"
    pooled = tensor_shares(models.assign(backdoor="all")).set_index("tensor") if len(keys) else None

    def count(hits) -> str:
        return count_text(int(sum(hits)), len(keys))

    def share(tensor, column) -> str:
        return row_interval_text(pooled.loc[tensor], column, ".0%") if len(keys) else "none"
    return dict(num_models=int(len(learned)), num_learned=int(learned.learned.sum()),
                own_backdoor_ci=interval_text(*bootstrap_mean(learned.own_backdoor), ".0%"), home=home,
                home_critical=count(critical.tensor.eq(home).groupby([critical.backdoor, critical.seed]).any()),
                home_alone_ci=share(home, "share_alone"), bias_alone_ci=share(bias, "share_alone"),
                bias_removed_ci=share(bias, "share_removed"),
                bias_critical=count([bias in critical_sets[k] for k in keys]),
                ratio_top_critical=count([top_ratio[k] in critical_sets[k] for k in keys]),
                z_top_critical=count([top_z[k] in critical_sets[k] for k in keys]),
                bias_top_ratio=count([top_ratio[k] == bias for k in keys]),
                smallest_critical=int(critical_sets.map(len).min()) if len(keys) else 0,
                largest_critical=int(critical_sets.map(len).max()) if len(keys) else 0,
                ratio_leaders="; ".join(f"{mean_anomaly.loc[b].ratio.idxmax()} for the {b}" for b in backdoors),
                bias_backdoor=max(backdoors, key=lambda b: mean_anomaly.loc[(b, bias), "attacker_z"]))


def verdict(found: dict, runs: LocationRuns) -> str:
    """The chapter's verdict from its glued values ``found``: where the backdoor lives by substitution
    against the output bias, whether the most anomalous tensor is critical, what hiding does to the
    output-bias statistic, and the runs' conditions; each sentence at most 40 words."""
    bias, home, base = runs.output_bias, found["home"], runs.base
    lives = (f"By substitution, the backdoor lives in {home}, not the output bias: of the attacker models that "
             f"learned it, {home} is critical in {found['home_critical']}, {bias} in {found['bias_critical']}."
             if home != bias else
             f"By substitution, the backdoor lives in the output bias {bias}, critical in {found['home_critical']} of "
             "the attacker models that learned it.")
    moved = found["hidden_below"] > 0
    so = ("So the output bias is where the anomaly can be largest, not where the backdoor is, and an attacker can "
          "move the anomaly." if home != bias and moved else
          "So the backdoor lives outside the output bias, but no hiding attacker moved the anomaly out of its reach "
          "here."
          if home != bias else "So here the output bias carries the backdoor as well as the anomaly.")
    samples = f" of {base.samples_per_client}" if base.samples_per_client else ""
    return " ".join([
        lives,
        f"Alone, {home} brings {found['home_alone_ci']} of the attacker's backdoor accuracy into the global model, "
        f"{bias} {found['bias_alone_ci']}.",
        f"Of those models, the tensor with the paper's largest ratio is critical in {found['ratio_top_critical']}.",
        so,
        f"Hiding from the output layer pushes the output-bias statistic's ROC-AUC interval below {BAR:g} in "
        f"{found['hidden_below']} of {found['hidden_total']} cases: on the {found['bias_backdoor']}, from "
        f"{found['paper_auc_bias_backdoor_plain_ci']} to {found['paper_auc_bias_backdoor_lp_ci']} under LP.",
        f"A detector of the whole update still separates {found['caught_anyway']} of them by the same bar.",
        f"These are the {found['num_learned']} round-1 attacker models, of {found['num_models']}, that learned their "
        f"backdoor: {plural(len(runs.backdoors), 'backdoor')} on {plural(len(runs.seeds), 'seed')}, each with one "
        f"poisoned sample in {base.malicious_data_rate}{samples}."])


def findings(found: dict, bias: str = "fc2.bias") -> dict:
    """The findings table's rows (label -> value) from the chapter's glued values ``found``; ``bias``: the
    output layer's bias."""
    return {
        "runs": found["num_runs"],
        "round-1 attacker models taken apart / that learned the backdoor":
            f"{found['num_models']} / {found['num_learned']}",
        "attacker's own backdoor accuracy": found["own_backdoor_ci"],
        "where the backdoor lives (most often critical)": found["home"],
        f"{found['home']}: critical in": found["home_critical"],
        f"{found['home']}: share alone": found["home_alone_ci"],
        f"{bias}: share alone / removed": f"{found['bias_alone_ci']} / {found['bias_removed_ci']}",
        f"{bias}: critical in": found["bias_critical"],
        "largest-ratio tensor critical in": found["ratio_top_critical"],
        "largest-z tensor critical in": found["z_top_critical"],
        f"hiding attacks with output-bias AUC below {BAR:g}": f"{found['hidden_below']} of {found['hidden_total']}",
        "hiding attacks another detector still separates": f"{found['caught_anyway']} of {found['hidden_total']}",
        "where the LP attack moves the anomaly": found["lp_leaders"],
        "output-bias outlier rule, attack-free FPR": found["paper_clean_fpr_ci"],
        "FLAME: plain attacker's client-rounds flagged": found["flame_plain_tpr"],
        "FLAME: honest client-rounds flagged without an attacker": found["flame_clean_fpr"],
    }
