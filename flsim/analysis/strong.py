"""Chapter 4's strong attacks, the other half of its map: every backdoor at every regime and seed with every
sample poisoned or with model replacement, members of the map's own panels and not points of it. Where the
backdoor takes hold, which tensor carries the anomaly (the ratio from the median, the robust z-score), and
whether the map's leader of the same setting stays the leader."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .regimes import MapReading, MapRuns, attack_label, first_rounds, ratio_at_ceiling, tensor_lead, tensor_presence
from .sweeps import sweep_summary
from .words import plural

STRONG_SETTING = ["steps", "backdoor", "r", "scale"]


def leaders(summary: pd.DataFrame, measure: str, by=STRONG_SETTING) -> pd.DataFrame:
    """Per setting (the columns ``by``) of a table with one row per run and tensor: the tensor with the
    largest mean of ``measure`` over the setting's runs (leader), the runs in which it alone is the
    largest (led) and the runs (runs)."""
    rows = []
    for key, group in summary.groupby(list(by), sort=False):
        wide = group.pivot(index="run", columns="layer", values=measure)
        leader = wide.mean().idxmax()
        alone = wide[leader] > wide.drop(columns=leader).max(axis=1)
        rows.append(dict(zip(by, key), leader=leader, led=int(alone.sum()), runs=len(wide)))
    return pd.DataFrame(rows)


def kept_text(median: bool, z: bool) -> str:
    """Whether a strong attack keeps the map's leader: by both measures, the median ratio only, z only, none."""
    return "both" if median and z else "med." if median else "z" if z else "none"


def tally(by: pd.DataFrame, mask, runs) -> str:
    """The leaders of the settings of ``mask`` (rows of :func:`leaders`), with the settings each leads and
    the seeds in which it alone is the largest: "fc2.bias in 2 (5 of 6 seeds); ..."; "none" if empty."""
    rows = by[np.asarray(mask)].assign(runs=np.asarray(runs)[np.asarray(mask)])
    return "; ".join(f"{tensor} in {len(group)} ({int(group.led.sum())} of {int(group.runs.sum())} seeds)"
                     for tensor, group in rows.groupby("leader", sort=False)) or "none"


class StrongReading:
    """The strong attacks of :class:`~flsim.analysis.MapRuns`, read in round 1 as the map is (:class:`~flsim.analysis.MapReading`)."""

    def __init__(self, runs: MapRuns, reading: MapReading):
        plan, tensor = runs.plan, reading.tensor
        self.plan, self.runs, self.tensor = plan, runs.strong_runs, tensor
        firsts = [first_rounds(r, 1) for r in runs.strong_runs]
        summary = sweep_summary(firsts, by=[]).join(plan.strong_points.drop(columns="seed"), on="run")
        median = sweep_summary(firsts, by=[], statistic="max_abs_from_median")
        summary["median_ratio"] = median.set_index(["run", "layer"]).ratio.loc[
            list(zip(summary.run, summary.layer))].to_numpy()
        points = plan.strong_points.assign(backdoor_accuracy=[
            r.rounds.backdoor_accuracy[r.rounds["round"] == 1].iloc[0] for r in runs.strong_runs])
        self.summary = summary
        self.by_median, self.by_z = leaders(summary, "median_ratio"), leaders(summary, "attacker_z")
        self.keys = list(zip(*(self.by_z[c] for c in STRONG_SETTING)))  # the strong settings, in order
        accuracy = points.groupby(STRONG_SETTING, sort=False).backdoor_accuracy
        self.presence = tensor_presence(summary, STRONG_SETTING, tensor)
        ratio = summary.groupby(STRONG_SETTING + ["layer"], sort=False).ratio.mean()
        self.ceilings = pd.Series(ratio_at_ceiling(ratio, plan.base.num_clients), index=ratio.index).groupby(
            level=STRONG_SETTING, sort=False).sum().loc[self.keys].to_numpy()
        self.held_seeds = accuracy.apply(lambda a: int((a >= 0.5).sum())).loc[self.keys].to_numpy()
        self.runs_per = accuracy.size().loc[self.keys].to_numpy()
        self.accuracy = accuracy.mean().loc[self.keys].to_numpy()
        self.index = pd.MultiIndex.from_arrays(
            [self.by_z.steps, self.by_z.backdoor.map(plan.short),
             [attack_label(r, s) for r, s in zip(self.by_z.r, self.by_z.scale)]], names=["steps", "backdoor", "attack"])
        # the map's leaders of the same regime and backdoor, at the same r or the map's smallest
        lead, doses = reading.lead, plan.doses
        at_map = pd.DataFrame({"median": reading.median_lead.leader.to_numpy(), "z": lead.leader.to_numpy()},
                              index=pd.MultiIndex.from_frame(lead[["steps", "backdoor", "r"]]))
        reference_r = [r if r in doses else min(doses) for r in self.by_z.r]
        at_map = at_map.loc[list(zip(self.by_z.steps, self.by_z.backdoor, reference_r))]
        self.kept_median = self.by_median.leader.to_numpy() == at_map["median"].to_numpy()
        self.kept_z = self.by_z.leader.to_numpy() == at_map["z"].to_numpy()

    def table(self) -> pd.DataFrame:
        """Per strong setting: backdoor accuracy after round 1 and the seeds it held in, the tensor's
        z-score and the seeds beyond 3, and the tensors at the paper's ratio's ceiling."""
        return pd.DataFrame({
            "acc.": self.accuracy, "held": [f"{k}/{n}" for k, n in zip(self.held_seeds, self.runs_per)],
            f"{self.tensor} z": self.presence.value.to_numpy(),
            "z > 3": [f"{k}/{n}" for k, n in zip(self.presence.runs_above, self.presence.runs)],
            "at ceiling": self.ceilings.astype(int)}, index=self.index)

    def leaders_table(self) -> pd.DataFrame:
        """Per strong setting: the leader by the ratio from the median and by z, the seeds each leads alone,
        and whether the map's leader of the same setting is kept."""
        return pd.DataFrame({
            "median": self.by_median.leader.to_numpy(),
            "seeds": [f"{k}/{n}" for k, n in zip(self.by_median.led, self.by_median.runs)],
            "z": self.by_z.leader.to_numpy(), "seeds ": [f"{k}/{n}" for k, n in zip(self.by_z.led, self.by_z.runs)],
            "kept": [kept_text(m, z) for m, z in zip(self.kept_median, self.kept_z)]}, index=self.index)

    def words(self) -> dict:
        """The values the chapter's text cites, by glue name."""
        tensor, runs_per, held_seeds, doses = self.tensor, self.runs_per, self.held_seeds, self.plan.doses
        labels = [f"{plural(s, 'step')}, {self.plan.short[b]}, {attack_label(r, x)}" for s, b, r, x in self.keys]
        held = self.accuracy >= 0.5  # as the map's: mean over seeds
        bias_by_median = self.by_median.leader.to_numpy() == tensor
        bias_by_z = self.by_z.leader.to_numpy() == tensor
        # the seeds in which the tensor alone is the largest, per measure (whatever leads on the mean)
        runs_median = tensor_lead(self.summary, STRONG_SETTING, tensor, measure="median_ratio").runs_led.to_numpy()
        runs_z = tensor_lead(self.summary, STRONG_SETTING, tensor).runs_led.to_numpy()
        scaled = (self.by_z.scale != 1).to_numpy()

        def seed_share(counts, mask):  # seeds in which something holds, over the settings of a mask
            return f"{int(counts[mask].sum())} of {int(runs_per[mask].sum())} seeds"

        by_attack = pd.Series(self.ceilings).groupby([attack_label(r, x) for _, _, r, x in self.keys], sort=False)
        return dict(
            strong_settings_count=len(self.keys), strong_runs=len(self.runs),
            strong_accuracy_low=float(self.accuracy.min()), strong_accuracy_high=float(self.accuracy.max()),
            strong_compute_seconds=float(sum(r.rounds.seconds.sum() for r in self.runs)),
            strong_reference_r=min(doses), held_strong_count=int(held.sum()),
            held_strong="; ".join(f"{labels[i]} ({held_seeds[i]} of {runs_per[i]})" for i in np.flatnonzero(held))
            or "none",
            held_strong_seeds=seed_share(held_seeds, held),
            held_strong_median_leaders=tally(self.by_median, held, runs_per),
            held_strong_z_leaders=tally(self.by_z, held, runs_per),
            held_strong_bias_median_count=int((bias_by_median & held).sum()),
            held_strong_bias_median_seeds=seed_share(runs_median, held),
            held_strong_bias_z_count=int((bias_by_z & held).sum()),
            held_strong_bias_z_seeds=seed_share(runs_z, held),
            held_strong_kept_median=int((self.kept_median & held).sum()),
            held_strong_kept_z=int((self.kept_z & held).sum()),
            scaled_count=int(scaled.sum()), scaled_kept_median=int((self.kept_median & scaled).sum()),
            scaled_kept_z=int((self.kept_z & scaled).sum()),
            strong_ceiling_max=int(self.ceilings.max()) if len(self.ceilings) else 0,
            strong_ceiling_by_attack="; ".join(f"{a}: {int(v.min())} to {int(v.max())}" for a, v in by_attack)
            or "none")
