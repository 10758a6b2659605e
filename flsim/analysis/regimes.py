"""Chapter 4's map: where a config sits on it (:func:`~flsim.analysis.regime`, which every chapter
states), and the map's two questions, where the anomaly is largest (the paper's ratio, and its ceiling)
and where it is most detectable (the robust z-score), with the reading between them: is it there at all?
The map itself: its plan and panels (:class:`MapPlan`), its runs (:class:`MapRuns`) and what they say per
setting, the tables and values the chapter shows (:class:`MapReading`); its strong attacks are read in
:mod:`flsim.analysis.strong`, the law and the verdict in :mod:`flsim.analysis.law`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..attacks import semantic_set_name
from ..config import DATASET_SIZES
from ..data import load
from ..experiment import run as run_config
from ..panels import panel, panel_configs
from ..robust import MAD_TO_STD
from .statistics import mean_interval, rank_correlation
from .sweeps import sweep_summary
from .tensors import layer_summary
from .words import dataset_words, interval_text, plural


def regime(config) -> str:
    """Where ``config`` sits on the map of chapter 4: local SGD steps per client and round, the share
    of each attacker's samples that is poisoned, and the backdoor. Every chapter states it."""
    # a client's whole deal from the dataset's size, without loading the data
    samples = config.samples_per_client or DATASET_SIZES[config.dataset][0] // (config.num_clients + 1)
    steps = config.local_epochs * -(-samples // config.batch_size)
    steps = f"{steps} local SGD step{'s' if steps != 1 else ''} per client and round"
    if config.attack == "none":
        return f"{steps}, no attack"
    images = (f"{len(config.semantic_indices)} images of your own" if config.semantic_indices is not None
              else semantic_set_name(config.dataset, config.semantic_set))
    backdoor = "trigger backdoor" if config.attack == "trigger" else f"semantic backdoor ({images})"
    return (f"{steps}, 1 in {config.num_malicious * config.malicious_data_rate} "
            f"of each attacker's samples poisoned, {backdoor}")


def first_rounds(results, rounds: int):
    """``results`` with every table cut to rounds 0 to ``rounds`` (chapter 4 reads the paper's run in round 1,
    as its map's other points; a run's first rounds do not depend on how many follow)."""
    return dataclasses.replace(results, tables={
        name: table[table["round"] <= rounds] if "round" in table else table
        for name, table in results.tables.items()})


def ratio_at_ceiling(ratios, num_clients: int, tolerance: float = 0.01) -> np.ndarray:
    """Which malicious/benign ratios of max |w_k - mean w| with one attacker lie within ``tolerance`` (a
    share) of their ceiling, num_clients - 1 (chapter 4).

    The mean includes the attacker, so its deviation is minus the sum of the honest clients':
    max |d_a| <= sum_h max |d_h|, hence max |d_a| / mean_h max |d_h| <= num_clients - 1, reached when the
    attacker dominates the tensor. A leave-one-out deviation (from the mean of the other clients) is
    num_clients / (num_clients - 1) times this one for every client: the same ratio, the same ceiling.
    """
    return np.asarray(ratios, dtype=float) >= (1 - tolerance) * (num_clients - 1)


def tensor_presence(summary: pd.DataFrame, by, tensor: str = "fc2.bias", measure: str = "attacker_z",
                    threshold: float = 3.0) -> pd.DataFrame:
    """Per setting (the columns ``by``) of a table with one row per run and tensor (:func:`sweep_summary`):
    is the anomaly present in ``tensor`` at all, the attacker beyond an outlier ``threshold`` of ``measure``
    (chapter 4)? A question apart from whether ``tensor`` is where it is largest (:func:`tensor_lead`).

    Columns: the ``by`` columns; value, the mean of ``measure`` over the setting's runs; present, that
    mean above ``threshold``; runs_above, the runs whose own value lies above it; runs.
    """
    rows = summary[summary.layer == tensor]
    grouped = rows.groupby(list(by), sort=False)[measure]
    table = pd.DataFrame({"value": grouped.mean(), "runs_above": grouped.agg(lambda v: int((v > threshold).sum())),
                          "runs": grouped.size()})
    table.insert(1, "present", table.value > threshold)
    return table.reset_index()


def tensor_lead(summary: pd.DataFrame, by, tensor: str = "fc2.bias", measure: str = "attacker_z",
                level: float = 0.95) -> pd.DataFrame:
    """Per setting (the columns ``by``) of a table with one row per run and tensor (:func:`sweep_summary`):
    does ``tensor`` set the attacker apart most, and how sure is that (chapter 4)?

    Columns: the ``by`` columns; leader, the tensor with the largest ``measure`` on the mean over the
    setting's runs; rival, the largest other than ``tensor``; lead, ``tensor``'s measure minus the
    rival's, mean over the runs (positive: ``tensor`` leads), with lead_low and lead_high, its
    Student-t interval over the runs (:func:`mean_interval`; NaN with one run); runs; and runs_led,
    the runs in which ``tensor`` alone is the largest. A lead whose interval excludes 0 is one the
    seeds settle.
    """
    indexed = summary.set_index(list(by) + ["run", "layer"])[measure]
    # the settings in their order in ``summary`` and the model's order of tensors, not sorted
    wide = indexed.unstack("layer").reindex(indexed.index.droplevel("layer").unique())
    wide = wide[list(dict.fromkeys(summary.layer))]
    rows = []
    for key, runs in wide.groupby(level=list(by), sort=False):
        means = runs.mean()
        rival = means.drop(tensor).idxmax()
        lead, low, high = mean_interval(runs[tensor] - runs[rival], level)
        best_other = runs.drop(columns=tensor).max(axis=1)
        rows.append({**dict(zip(by, key)), "leader": means.idxmax(), "rival": rival, "lead": lead,
                     "lead_low": low, "lead_high": high, "runs": len(runs),
                     "runs_led": int((runs[tensor] > best_other).sum())})
    return pd.DataFrame(rows)


def honest_spread(updates: pd.DataFrame, statistic: str = "max_abs_deviation") -> pd.Series:
    """Per tensor (in the table's order): how much the honest clients' ``statistic`` varies between them,
    1.4826 x MAD / median within each round, the mean over the rounds (chapter 4).

    The attacker's robust z-score is about (its statistic / the round's median - 1) / this spread: of two
    tensors in which the attacker stands equally far above the honest median, the one whose honest
    values vary more (a maximum over 10 entries rather than over 800,000) has the smaller z.
    """
    honest = updates[~updates.malicious]
    per_round = honest.groupby(["layer", "round"], sort=False)[statistic].agg(
        lambda v: MAD_TO_STD * (v - v.median()).abs().median() / v.median())
    return per_round.groupby(level="layer", sort=False).mean().rename("spread")


def round_intervals(updates: pd.DataFrame, statistic: str = "max_abs_deviation", level: float = 0.95) -> pd.DataFrame:
    """Per layer of one run: :func:`layer_summary`'s attacker_z, the mean over the rounds of each
    round's value, with a Student-t interval over the rounds (chapter 4's run of the paper's procedure).
    The rounds of one run are not independent draws (one attacker, one trajectory): the interval says
    how much the rounds vary, not what another seed would give."""
    per_round = pd.concat([layer_summary(group, statistic) for _, group in updates.groupby("round")])
    rows = [dict(zip(("layer", "attacker_z", "low", "high"), (layer, *mean_interval(group.attacker_z, level))))
            for layer, group in per_round.groupby("layer", sort=False)]
    return pd.DataFrame(rows).set_index("layer")


# --- chapter 4's map: its plan, its runs and what they say --------------------------------------------------

SETTING = ["steps", "backdoor", "r"]  # a setting of the map: local steps, backdoor, dose


def strength_text(r: int, scale: float) -> str:
    """A strong attack in words: ``r = 1 (every sample poisoned)``, ``r = 2 with model replacement ...``."""
    words = f"r = {r}" + (" (every sample poisoned)" if r == 1 else "")
    return words + (f" with model replacement (its update scaled x{scale:g})" if scale != 1 else "")


def attack_label(r: int, scale: float) -> str:
    """A strong attack, short, for a table: ``r = 1``, ``r = 2 x10``."""
    return f"r = {r}" + (f" x{scale:g}" if scale != 1 else "")


def training_text(samples: int | None, epochs: int) -> str:
    """A regime of local training in words: ``300 samples and 1 epoch``."""
    data = "the whole round-robin deal" if samples is None else f"{samples} samples"
    return f"{data} and {plural(epochs, 'epoch')}"


def check_strong_attacks(strong_attacks) -> None:
    """Chapter 4's parameter check: ``strong_attacks`` is one or more [r, attack_scale] pairs."""
    if not strong_attacks or any(len(attack) != 2 for attack in strong_attacks):
        raise ValueError(f"strong_attacks={strong_attacks}: one or more [r, attack_scale] pairs, e.g. "
                         "[[1, 1.0]]; the section on where the backdoor takes hold reads them")


@dataclasses.dataclass
class MapPlan:
    """Chapter 4's map before it runs: per regime of local training ([samples_per_client or None for the
    whole deal, local_epochs, seeds]) and seed, one panel of round-1 runs of ``base``, every backdoor
    (the ``semantic_sets`` and, with ``trigger``, the trigger) at every dose r of ``doses``; the strong
    attacks ([r, attack_scale] pairs) join the same panels, and the paper's run of ``paper_rounds``
    rounds is its regime's point. Every member keeps all the semantic backdoors' images out of the pool."""

    base: object  # a Config
    local_training: list
    semantic_sets: list
    trigger: bool
    doses: list
    strong_attacks: list
    seeds: list
    paper_rounds: int
    paper_samples_per_client: int | None = None

    def __post_init__(self):
        base = self.base
        self.backdoors = {f"semantic {s}": dict(attack="semantic", semantic_set=s) for s in self.semantic_sets}
        if self.trigger:
            self.backdoors["trigger"] = dict(attack="trigger")
        self.short = {name: name.replace("semantic ", "") for name in self.backdoors}
        variants = {(name, r): dict(attack, malicious_data_rate=r)
                    for name, attack in self.backdoors.items() for r in self.doses}
        strong = {(name, int(r), float(scale)): dict(attack, malicious_data_rate=int(r), attack_scale=float(scale))
                  for name, attack in self.backdoors.items() for r, scale in self.strong_attacks}
        members = panel_configs(base.replace(num_rounds=1), list(variants.values()) + list(strong.values()))
        members, strong_members = members[:len(variants)], members[len(variants):]
        self.excluded = members[0].excluded_indices or ()
        pool = len(load(base.dataset).train_y) - len(self.excluded)
        self.deal = pool // (base.num_clients + 1)  # a client's whole round-robin deal, give or take one image
        self.paper = base.replace(samples_per_client=self.paper_samples_per_client, local_epochs=2,
                                  num_rounds=self.paper_rounds, malicious_data_rate=10, attack="semantic",
                                  semantic_set=self.semantic_sets[0], seed=self.seeds[0],
                                  excluded_indices=self.excluded)
        self.panels, self.strong_panels, points, strong_points = [], [], [], []
        for samples, epochs, count in self.local_training:
            steps = self.steps(samples, epochs)
            for seed in self.seeds[:count]:
                panel = [c.replace(samples_per_client=samples, local_epochs=epochs, seed=seed) for c in members]
                # the paper's run is its regime's point: read in its round 1, computed in this panel
                self.panels.append([self.paper if c.replace(num_rounds=self.paper_rounds).key() == self.paper.key()
                                    else c for c in panel])
                points += [dict(steps=steps, samples=samples or self.deal, epochs=epochs, backdoor=backdoor, r=r,
                                seed=seed) for backdoor, r in variants]
                self.strong_panels.append([c.replace(samples_per_client=samples, local_epochs=epochs, seed=seed)
                                           for c in strong_members])
                strong_points += [dict(steps=steps, backdoor=backdoor, r=r, scale=scale, seed=seed)
                                  for backdoor, r, scale in strong]
        self.points = pd.DataFrame(points)
        self.strong_points = pd.DataFrame(strong_points, columns=["steps", "backdoor", "r", "scale", "seed"])

    def steps(self, samples: int | None, epochs: int) -> int:
        """Local SGD steps per client and round: epochs x batches (the whole deal where ``samples`` is None)."""
        return epochs * -(-(samples or self.deal) // self.base.batch_size)

    def table(self) -> pd.DataFrame:
        """Each regime, backdoor and dose with the seeds it runs (the chapter's plan)."""
        plan = self.points.groupby(["steps", "samples", "epochs", "backdoor", "r"], sort=False).seed.count()
        return plan.rename("seeds").reset_index()

    def words(self) -> dict:
        """The plan's values for the chapter's text (glue names)."""
        base, points = self.base, self.points
        ordered = sorted(self.local_training, key=lambda t: self.steps(t[0], t[1]))
        return dict(
            paper_rounds=self.paper_rounds, deal=self.deal, num_clients=base.num_clients,
            dataset_name=dataset_words(base.dataset), excluded_count=len(self.excluded),
            lr=base.lr, batch_size=base.batch_size,
            server_text="its whole deal" if base.server_share == 1 else f"{base.server_share:.0%} of its deal",
            doses_text=" and ".join(f"r = {r}" for r in self.doses),
            strong_text=" and ".join(strength_text(int(r), float(s)) for r, s in self.strong_attacks) or "none",
            strong_short=" and ".join(attack_label(int(r), float(s)) for r, s in self.strong_attacks) or "none",
            paper_data_text=(f"their whole deal (about {self.deal} images each)" if self.paper_samples_per_client
                             is None else f"{self.paper_samples_per_client} samples each"),
            steps_range=f"{points.steps.min()} to {points.steps.max()}",
            training_range=f"from {training_text(*ordered[0][:2])} to {training_text(*ordered[-1][:2])}",
            seeds_text="; ".join(f"{s} local steps: {plural(n, 'seed')}"
                                 for s, n in points.groupby("steps").seed.nunique().items()))

    def run(self) -> "MapRuns":
        """Each regime and seed's panel (the points not in the result cache yet), then the paper's run."""
        runs, strong_runs = [], []
        for members, strong in zip(self.panels, self.strong_panels):
            computed = panel(members + strong)
            runs += computed[:len(members)]
            strong_runs += computed[len(members):]
        return MapRuns(self, runs, strong_runs, run_config(self.paper))  # the paper's run from the cache


@dataclasses.dataclass
class MapRuns:
    """The runs of a :class:`MapPlan`: the map's points, the strong attacks (same panels), the paper's run."""

    plan: MapPlan
    runs: list
    strong_runs: list
    paper_run: object

    def words(self) -> dict:
        """How many runs and panels, and their compute time when they ran (the paper's run counted once)."""
        distinct = {r.config.key(): r for r in self.runs + [self.paper_run]}.values()
        return dict(num_runs=len(distinct), num_panels=len(self.plan.panels),
                    compute_seconds=float(sum(r.rounds.seconds.sum() for r in distinct)))

    def cost_text(self) -> str:
        """``"N runs in P panels, S s of compute when they ran"``."""
        w = self.words()
        return (f"{w['num_runs']} runs in {w['num_panels']} panels, {w['compute_seconds']:.0f} s of compute "
                "when they ran")


def _signless(text: str) -> str:
    """A formatted number that rounds to zero, without its sign ("-0.0" reads as a negative number)."""
    return text[1:] if text.startswith("-") and not any(digit in text for digit in "123456789") else text


def _k_of_n(frame: pd.DataFrame, column: str = "runs_led") -> list[str]:
    """Per row, ``column`` of its runs as k/n (a setting's seeds)."""
    return [f"{k}/{n}" for k, n in zip(frame[column], frame.runs)]


def _listed(rows: pd.DataFrame, with_tensor: bool = False) -> str:
    """The settings of ``rows`` (a column regime), each with its leader if asked; "none" if empty."""
    return "; ".join(r.regime + (f" ({r.leader})" if with_tensor else "") for r in rows.itertuples()) or "none"


class MapReading:
    """What chapter 4's map says, read in round 1 from :class:`MapRuns`, per setting (local steps, backdoor,
    r; mean over its seeds): the maps of every tensor (``maps``: attacker_z, auc, ratio, median_ratio), which
    tensor leads by each measure and how sure that is (``lead``, ``ratio_lead``, ``median_lead``,
    ``presence``), the tables the chapter shows and the values its text cites (:meth:`words`)."""

    def __init__(self, runs: MapRuns, tensor: str = "fc2.bias"):
        plan, self.tensor = runs.plan, tensor
        self.firsts = [first_rounds(r, 1) for r in runs.runs]
        swept = ["samples_per_client", "local_epochs", "malicious_data_rate"]
        summary = sweep_summary(self.firsts, by=swept).join(plan.points.drop(columns="seed"), on="run")
        # the ratio of the same runs measured from the round's coordinate-wise median (no ceiling)
        from_median = sweep_summary(self.firsts, by=swept, statistic="max_abs_from_median")
        summary["median_ratio"] = from_median.set_index(["run", "layer"]).ratio.loc[
            list(zip(summary.run, summary.layer))].to_numpy()
        self.summary, self.plan, self.num_clients = summary, plan, plan.base.num_clients
        self.points = plan.points.assign(backdoor_accuracy=[
            r.rounds.backdoor_accuracy[r.rounds["round"] == 1].iloc[0] for r in runs.runs])
        measures = ["ratio", "median_ratio", "auc", "top_rate", "attacker_z"]
        self.per_setting = summary.groupby(SETTING + ["layer"], sort=False)[measures].mean()
        layers = list(dict.fromkeys(summary.layer))
        self.maps = {}
        for measure in ("attacker_z", "auc", "ratio", "median_ratio"):
            table = self.per_setting[measure].unstack(SETTING)
            table.columns = [self.label(*c) for c in table.columns]
            self.maps[measure] = table.loc[layers]
        self.lead = tensor_lead(summary, SETTING, tensor)  # the map's settings, in its order
        self.lead["regime"] = [self.label(*key) for key in zip(*(self.lead[c] for c in SETTING))]
        self.keys = list(zip(*(self.lead[c] for c in SETTING)))
        self.ratio_lead = tensor_lead(summary, SETTING, tensor, measure="ratio")
        self.median_lead = tensor_lead(summary, SETTING, tensor, measure="median_ratio")
        self.presence = tensor_presence(summary, SETTING, tensor)  # the attacker's z in the tensor beyond 3
        held = self.points.groupby(SETTING, sort=False).backdoor_accuracy.mean()
        self.accuracy = held.loc[self.keys].to_numpy()
        self.entries = pd.Series({name: p.numel() for name, p in runs.runs[0].model().named_parameters()})
        self.spreads = pd.DataFrame([honest_spread(f.updates) for f in self.firsts])  # one row per run
        self.spreads["steps"] = self.points.steps.to_numpy()

    def label(self, steps, backdoor, r) -> str:
        """A setting for a table or a map: ``300 steps, striped_tshirts, r = 10``."""
        return f"{plural(steps, 'step')}, {self.plan.short[backdoor]}, r = {r}"

    def _index(self) -> pd.MultiIndex:
        return pd.MultiIndex.from_arrays([self.lead.steps, self.lead.backdoor.map(self.plan.short), self.lead.r],
                                         names=["steps", "backdoor", "r"])

    def lead_table(self) -> pd.DataFrame:
        """Per setting: the leader by z (mean over seeds), the tensor's lead over the strongest other tensor
        (mean ± half its 95% t interval; one seed has none), the seeds it leads in, the backdoor accuracy."""
        def lead_text(row):  # the t interval is symmetric: mean ± half its width
            lead = _signless(format(row.lead, ".1f"))
            if row.runs < 2:
                return f"{lead} (1 seed)"
            return f"{lead} ± {_signless(format((row.lead_high - row.lead_low) / 2, '.1f'))}"

        lead = self.lead
        return pd.DataFrame({"leader": lead.leader.to_numpy(),
                             f"{self.tensor} lead": [lead_text(row) for row in lead.itertuples()],
                             "seeds led": [f"{led} of {n}" for led, n in zip(lead.runs_led, lead.runs)],
                             "backdoor acc.": self.accuracy}, index=self._index())

    def readings_table(self) -> pd.DataFrame:
        """Per setting: the tensor with the largest ratio (the paper's; from the median) on the mean over
        seeds, the seeds in which the tensor has the largest one, and the seeds with its z beyond 3."""
        return pd.DataFrame({"ratio": self.ratio_lead.leader.to_numpy(), "seeds": _k_of_n(self.ratio_lead),
                             "median": self.median_lead.leader.to_numpy(), "seeds ": _k_of_n(self.median_lead),
                             "z > 3": _k_of_n(self.presence, "runs_above")}, index=self._index())

    def backdoor_table(self) -> pd.DataFrame:
        """Per backdoor: its settings, and in how many the tensor has the largest ratio (the paper's; from
        the median, on the mean over seeds), a settled z lead (interval above 0) and a mean z beyond 3."""
        tensor = self.tensor
        return pd.DataFrame({
            "backdoor": self.lead.backdoor.map(self.plan.short).to_numpy(), "settings": 1,
            "largest ratio": (self.ratio_lead.leader == tensor).to_numpy(),
            "largest from median": (self.median_lead.leader == tensor).to_numpy(),
            "settled z lead": (self.lead.lead_low > 0).to_numpy(),
            "z > 3": self.presence.present.to_numpy()}).groupby("backdoor", sort=False).sum()

    def spread_table(self) -> pd.DataFrame:
        """Per tensor: its entries and the honest clients' spread in each regime (:func:`honest_spread`)."""
        by_regime = self.spreads.groupby("steps").mean().T.loc[self.maps["attacker_z"].index]
        by_regime.columns = [plural(s, "step") for s in by_regime.columns]
        by_regime.insert(0, "entries", self.entries.loc[by_regime.index])
        return by_regime

    def words(self) -> dict:
        """The values the chapter's text cites, by glue name."""
        lead, tensor, n = self.lead, self.tensor, self.num_clients
        ratio_lead, median_lead, presence = self.ratio_lead, self.median_lead, self.presence
        bias_first = lead.leader == tensor  # on the mean over seeds
        settled, settled_other = lead.lead_low > 0, lead.lead_high < 0
        everything = np.array([(self.maps["auc"][c] >= 0.95).all() for c in lead.regime])  # all tensors separate
        held = self.accuracy >= 0.5
        split = (lead.runs_led > 0) & (lead.runs_led < lead.runs)
        bias_ratio = self.per_setting.ratio.xs(tensor, level="layer").loc[self.keys]
        at_ceiling = ratio_at_ceiling(bias_ratio, n)
        cells_at_ceiling = ratio_at_ceiling(self.maps["ratio"].to_numpy(), n)  # tensor x setting
        ratio_first, median_first = ratio_lead.leader == tensor, median_lead.leader == tensor
        disagree = (ratio_lead.leader != lead.leader).to_numpy()
        spreads = self.spreads.drop(columns="steps").mean()
        entries, biggest = self.entries, str(self.entries.idxmax())
        rho = rank_correlation(entries.loc[spreads.index].astype(float), spreads)
        # at an FPR below 1 / (num_clients - 1) the TPR is 1 where the attacker is its round's top client:
        # on top in every seed in two tensors or more, a TPR of 1 that cannot rank them
        top_everywhere = (self.per_setting.top_rate.unstack("layer") == 1).sum(axis=1)
        # where the measures part: has the tensor the z-score picks the narrower honest spread?
        regime_spread = self.spreads.groupby("steps").mean()
        narrower = [regime_spread.loc[s, by_z] < regime_spread.loc[s, by_ratio] for s, by_z, by_ratio
                    in zip(lead.steps[disagree], lead.leader[disagree], ratio_lead.leader[disagree])]
        by_steps = settled.groupby(lead.steps.to_numpy(), sort=False)
        by_backdoor = ratio_first.groupby(lead.backdoor.map(self.plan.short).to_numpy(), sort=False)
        return dict(
            num_settings=len(lead), num_tensors=len(self.maps["attacker_z"].index),
            bias_first_count=int(bias_first.sum()), bias_first=_listed(lead[bias_first]),
            other_first_count=int((~bias_first).sum()), other_first=_listed(lead[~bias_first], True),
            other_tensors=", ".join(sorted(set(lead.leader[~bias_first]))) or "none",
            settled_count=int(settled.sum()), settled=_listed(lead[settled]),
            settled_other_count=int(settled_other.sum()), settled_other=_listed(lead[settled_other], True),
            unsettled_count=int((~settled & ~settled_other).sum()),
            everything_count=int(everything.sum()), everything=_listed(lead[everything]),
            held_count=int(held.sum()), held=_listed(lead[held]),
            split_count=int(split.sum()), split=_listed(lead[split]),
            bias_led_runs=int(lead.runs_led.sum()), map_runs=int(lead.runs.sum()),
            settled_by_steps="; ".join(f"{plural(s, 'step')}: {int(v.sum())} of {len(v)}" for s, v in by_steps),
            ratio_ceiling=n - 1, ratio_bias_first_count=int(ratio_first.sum()),
            ratio_bias_first=_listed(lead[ratio_first]),
            ratio_other=_listed(ratio_lead.assign(regime=lead.regime)[~ratio_first], True),
            ratio_bias_led_runs=int(ratio_lead.runs_led.sum()),
            median_bias_first_count=int(median_first.sum()), median_bias_first=_listed(lead[median_first]),
            median_bias_led_runs=int(median_lead.runs_led.sum()),
            present_count=int(presence.present.sum()), present=_listed(lead[presence.present]),
            absent=_listed(lead[~presence.present]), present_runs=int(presence.runs_above.sum()),
            ceiling_count=int(at_ceiling.sum()), ceiling=_listed(lead[np.asarray(at_ceiling)]),
            ceiling_cells=int(cells_at_ceiling.sum()),
            ceiling_tied_count=int((cells_at_ceiling.sum(axis=0) > 1).sum()),
            bias_ratio_max=float(bias_ratio.max()),
            median_ratio_max=float(self.maps["median_ratio"].loc[tensor].max()),
            disagree_count=int(disagree.sum()),
            disagree="; ".join(f"{regime} ({by_ratio} by the ratio, {by_z} by z)" for regime, by_ratio, by_z in
                               zip(lead.regime[disagree], ratio_lead.leader[disagree], lead.leader[disagree]))
            or "none",
            biggest_tensor=biggest, biggest_entries=int(entries[biggest]), bias_entries=int(entries[tensor]),
            bias_spread=float(spreads[tensor]), biggest_spread=float(spreads[biggest]),
            spread_factor=float(spreads[tensor] / spreads[biggest]), widest_spread=str(spreads.idxmax()),
            entries_spread_text=interval_text(*rho),
            tpr_saturated_count=int((top_everywhere >= 2).sum()), narrower_count=int(sum(narrower)),
            ratio_by_backdoor="; ".join(f"{b}: {int(v.sum())} of {len(v)}" for b, v in by_backdoor))
