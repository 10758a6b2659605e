"""A sweep chapter (chapters 5, 6 and 7): one setting swept over values and seeds, the default backdoor
at every point and the other side of chapter 4's law at one, read as the three chapters read it.

:class:`SweepChapter` holds a chapter's plan (its configs and the values its overview glues), runs it
(:func:`flsim.sweep`, then :func:`flsim.sides.compare_sides` at the other side's point) and gives what
the chapter shows: its tables, its figures with their captions, the values its text glues
(:attr:`SweepChapter.values`), its verdict and its findings table. What differs between the chapters
is how the swept setting reads (``SWEPT``): its symbol, its words, its axis, and the finding the
verdict adds to the paper's claim, the trend of the output bias's ratio (chapters 5 and 7) or the
power law of its shift (chapter 6). :meth:`SweepChapter.analyse` reads runs without running them, so
hand-made Results test it (tests/test_sweep_chapter.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import analysis, notebook, plots, semantic
from .analysis import interval_text, per_value_text
from .analysis.words import attackers_text, dataset_words, exponent_text
from .attacks import semantic_set_name
from .sides import leads

RATIO_PANELS = {"ratio": "malicious / benign\nmean deviation (ratio)",
                "auc": "ROC-AUC, malicious vs\nbenign (1 = perfect)"}


@dataclass(frozen=True)
class Swept:
    """How a swept Config field reads in a sweep chapter.

    ``symbol`` names a value in tables and text ("m = 2"), ``key`` in glue names (``backdoor_by_m``);
    ``noun`` and ``nouns`` in sentences; ``axis``, the figures' x label, on a log scale if ``logx``;
    ``caption``, the x axis in a caption. ``trend``: the verdict's second finding, "ratio" (the output
    bias's ratio from the first to the last value that ``ascending`` orders, opened by ``trend_words``,
    with ``expected``, the direction the first-order theory expects, "fell" or "rose") or "exponent"
    (its target-class shift's power law in the swept value). ``exponent_x``: the x of the chapter's
    power law (:func:`flsim.analysis.shift_exponents`: "value", "poisoned", or None for none)."""

    symbol: str
    key: str
    noun: str
    nouns: str
    axis: str
    logx: bool
    caption: str
    trend: str = "ratio"
    trend_words: str = ""
    expected: str = ""
    ascending: bool = True
    exponent_x: str | None = None
    at: str = "at"  # "took hold at r = 2"; "with m = 2"


SWEPT = {
    "num_malicious": Swept("m", "m", "number of attackers", "numbers of attackers", "attackers m", False,
                           "the number of attackers m, who under the paper's rule share a fixed total of "
                           "poisoned samples", trend_words="With more attackers", expected="fell", at="with"),
    "lr": Swept("η", "lr", "learning rate", "learning rates", "learning rate η (log scale)", True,
                "the clients' learning rate η", trend="exponent", exponent_x="value"),
    "malicious_data_rate": Swept("r", "r", "rate", "rates", "malicious data rate r (log scale)", True,
                                 "the malicious data rate r (the attacker poisons one sample in r, so the "
                                 "dose falls from left to right)", trend_words="With a larger dose",
                                 expected="rose", ascending=False, exponent_x="poisoned"),
}


def _plain(value):
    """A swept value as Python has it (an int stays an int), for a glued number."""
    return value.item() if hasattr(value, "item") else value


def ratio_trend(evidence: pd.DataFrame, ascending: bool = True) -> str:
    """How the malicious/benign ratio of :func:`flsim.analysis.sweep_evidence` moved from its first to its
    last swept value (``ascending`` False: from the last row to the first): "rose" or "fell" where the
    two intervals do not overlap, "did not change beyond its intervals" where they do, "" with one
    value (chapters 5 and 7)."""
    if len(evidence) < 2:
        return ""
    first, last = (evidence.iloc[0], evidence.iloc[-1]) if ascending else (evidence.iloc[-1], evidence.iloc[0])
    if last.ratio_lo > first.ratio_hi:
        return "rose"
    if last.ratio_hi < first.ratio_lo:
        return "fell"
    return "did not change beyond its intervals"


def claim_sentence(evidence: pd.DataFrame, tensor: str, set_words: str, nouns: str) -> str:
    """The sweep's first verdict sentence (chapters 5-7): the paper's claim for the default backdoor across
    the swept values, by :func:`flsim.sides.leads` at each value: "holds" where ``tensor`` leads by
    ROC-AUC and by ratio at every value, "does not hold" where it leads by neither at any, else "holds
    only in part"; then at how many values it leads by each."""
    won = pd.DataFrame([leads(row) for _, row in evidence.iterrows()])
    n, by_auc, by_ratio = len(evidence), int(won["AUC"].sum()), int(won["ratio"].sum())
    word = ("holds" if by_auc == by_ratio == n else "does not hold" if by_auc == by_ratio == 0
            else "holds only in part")
    return (f"For the {set_words} (the default backdoor) the paper's claim {word} across the {nouns}: "
            f"{tensor} leads, clear of no difference, at {by_auc} of {n} by ROC-AUC and {by_ratio} of "
            f"{n} by ratio.")


def trend_sentence(evidence: pd.DataFrame, tensor: str, words: Swept, num_tensors: int) -> str:
    """The verdict's second sentence where the chapter reads the ratio's trend (chapters 5 and 7): how
    ``tensor``'s malicious/benign ratio moved across the swept values (:func:`ratio_trend`), its two
    ends with their intervals and its rank at the last, and whether the first-order theory expected
    that."""
    change = ratio_trend(evidence, words.ascending)
    if not change:
        return f"This run has one {words.noun}, so it shows no trend."
    first, last = (evidence.iloc[0], evidence.iloc[-1]) if words.ascending else (evidence.iloc[-1],
                                                                                  evidence.iloc[0])
    ends = ", ".join(f"{interval_text(row.ratio, row.ratio_lo, row.ratio_hi)} at {words.symbol} = "
                     f"{row.name:g}" for row in (first, last))
    theory = ("as the first-order theory expects" if change == words.expected else
              f"where the first-order theory expects it {'to fall' if words.expected == 'fell' else 'to rise'}")
    return (f"{words.trend_words}, {tensor}'s malicious/benign ratio {change} ({ends}, rank "
            f"{int(last.ratio_rank)} of {num_tensors} there), {theory}.")


def exponent_sentence(row: pd.Series, x: str, num_malicious: int = 1) -> str:
    """The verdict's second sentence where the chapter reads the shift's power law (chapter 6): the
    exponent k of the attackers' target-class bias shift in ``x`` (a row of
    :func:`flsim.analysis.shift_exponents`) against the first-order theory's 1."""
    who = "attacker's" if num_malicious == 1 else "attackers'"
    if row.isna().any():
        where = "undefined (a mean shift, or a resampled one, was not positive)"
    elif row.lo <= 1 <= row.hi:
        where = f"{exponent_text(row)}, whose interval includes the first-order theory's 1"
    else:
        where = f"{exponent_text(row)}, {'below' if row.hi < 1 else 'above'} the first-order theory's 1"
    return f"The {who} target-class bias shift grew like {x}^k with k = {where}."


def cancel_note(difference: pd.Series, noun: str) -> str:
    """Whether ``noun`` (the swept setting) cancels out of a comparison between clients, from the row
    "difference" of :func:`flsim.analysis.shift_exponents`, the attackers' exponent minus the honest
    spread's (chapter 6): it does where that difference's interval includes 0."""
    if difference.isna().any():
        return (f"With an exponent or its interval undefined, this run cannot say whether the {noun} "
                "cancels out of the comparison")
    if difference.lo <= 0 <= difference.hi:
        return (f"The interval of the difference includes 0: within what this run can tell, the {noun} "
                "cancels out of the comparison")
    return (f"The {noun} does not cancel out of the comparison: the attacker's exponent is "
            + (f"below the honest clients', so a larger {noun} hides the attacker's bias shift in the "
               "honest spread" if difference.hi < 0 else
               f"above the honest clients', so a larger {noun} makes the attacker's bias shift stand "
               "out more"))


def took_hold(backdoor: pd.DataFrame, words: Swept) -> str:
    """Where the backdoor took hold, at least 50% backdoor accuracy on average over the seeds
    (:func:`flsim.analysis.seed_spread`'s mean), in words (chapters 5-7)."""
    held = [f"{value:g}" for value, accuracy in backdoor["mean"].items() if accuracy >= 0.5]
    if held:
        return f"it took hold (at least 50% on average) {words.at} {words.symbol} = {', '.join(held)}"
    return f"it took hold {words.at} no {words.noun}: at most {backdoor['mean'].max():.0%} on average"


def main_note(main: pd.DataFrame, noun: str) -> str:
    """Whether the largest swept value trained the main task further than the smallest, by the seeds'
    ranges (:func:`flsim.analysis.seed_spread`): a difference counts only where they do not overlap
    (chapter 6)."""
    low, high = main.iloc[0], main.iloc[-1]
    further = ("further than" if high.lo > low.hi else "less far than" if high.hi < low.lo else
               "about as far as")
    return (f"the largest {noun} trained the main task {further} the smallest "
            f"({interval_text(high['mean'], high.lo, high.hi, '.1%')} against "
            f"{interval_text(low['mean'], low.lo, low.hi, '.1%')}"
            f"{': the seeds overlap' if further == 'about as far as' else ''})")


def dose_values(auc: pd.DataFrame, evidence: pd.DataFrame) -> dict:
    """What chapter 7 says of its two doses, the largest (the first row, the smallest r) and the smallest
    (the last): the least informative tensor's AUC at the largest and whether even it clears chance,
    the best tensor's at the smallest and whether any tensor clears it, and the output bias's ratio
    rank at the largest."""
    high_dose, low_dose = auc.loc[evidence.index[0]], auc.loc[evidence.index[-1]]
    weakest, strongest = high_dose.auc.idxmin(), evidence.best.iloc[-1]
    return dict(
        r_high_dose=_plain(evidence.index[0]), r_low_dose=_plain(evidence.index[-1]),
        min_auc_high_dose=interval_text(*high_dose.loc[weakest, ["auc", "lo", "hi"]]),
        best_auc_low_dose=interval_text(*evidence.iloc[-1][["best_auc", "best_lo", "best_hi"]]),
        bias_ratio_rank_high_dose=int(evidence.ratio_rank.iloc[0]),
        high_dose_note="even the least informative tensor separates the attacker beyond chance: the "
                       "dose moves every tensor, not only the output layer, and the attacker's whole "
                       "update stands out" if high_dose.clear.all() else
                       f"{weakest} does not separate the attacker beyond chance: the dose does not "
                       "move every tensor alike",
        low_dose_note="no tensor clears chance: the attacker hides in every tensor at once"
                      if not low_dose.clear.any() else f"the attacker still stands out in {strongest}")


class SweepChapter:
    """A sweep chapter's plan, runs and readings (chapters 5, 6 and 7).

    ``base``: the chapter's config; ``by``: the swept Config field (a key of ``SWEPT``), over
    ``values`` and ``seeds``; ``other_set``: chapter 4's other side, a named semantic set run at the
    swept value ``other_value`` on the same seeds ("" leaves it out; a set the dataset lacks is refused
    here, before any run); ``num_samples``: a client's data size where ``base.samples_per_client`` is
    None (the whole deal, read from the dataset when not given). ``runs_in_all``: the glued ``num_runs``
    counts the other side's new runs too (chapter 7), not only the sweep's (chapters 5 and 6).
    """

    def __init__(self, base, by: str, values, seeds, *, other_set: str = "", other_value=None,
                 num_samples: int | None = None, runs_in_all: bool = False):
        self.base, self.by, self.words = base, by, SWEPT[by]
        self.swept, self.seeds = list(values), list(seeds)
        self.other_set, self.other_value, self.runs_in_all = other_set, other_value, runs_in_all
        if num_samples is None and base.samples_per_client is None:
            from .data import load  # the dataset only where a client's size needs it

            num_samples = load(base.dataset).train_y.numel() // (base.num_clients + 1)
        self.num_samples = num_samples or base.samples_per_client
        self.configs = [base.replace(**{by: value}, seed=seed) for seed in self.seeds for value in self.swept]
        self.default_set = semantic_set_name(base.dataset, base.semantic_set)
        if other_set:
            base.replace(semantic_set=other_set)  # refused here, before any run
        self.runs = self.sides = None

    @property
    def point(self) -> str:
        """The other side's point in words, e.g. "m = 1"."""
        return f"{self.words.symbol} = {self.other_value:g}"

    @property
    def plan(self) -> dict:
        """The values the chapter's overview glues before any run, its settings (those not swept), the swept
        values, what one run trains and evaluates, where it sits on chapter 4's map, and for a sweep of
        the number of attackers the poisoning rule's totals (:meth:`poisoning_rule`)."""
        base, n, words = self.base, self.num_samples, self.words
        attacked = [value for value in self.swept if base.replace(**{self.by: value}).attackers]
        fixed = {name: getattr(base, name)
                 for name in ("num_malicious", "lr", "batch_size", "malicious_data_rate") if name != self.by}
        plan = dict(
            fixed, num_rounds=base.num_rounds, num_clients=base.num_clients, samples=n,
            num_seeds=len(self.seeds), dataset_name=dataset_words(base.dataset),
            client_passes=f"{base.num_rounds * base.num_clients * n:,}",
            eval_samples=f"{base.eval_samples:,}" if base.eval_samples else "all the",
            local_steps=base.local_epochs * -(-n // base.batch_size),  # batches per epoch, rounded up
            attackers_text=attackers_text(base.num_malicious), regime=analysis.regime(base),
            other_point=self.other_value if isinstance(self.other_value, int) else f"{self.other_value:g}",
            **{f"{words.key}_values": ", ".join(f"{value:g}" for value in self.swept)})
        if attacked:
            plan.update({f"{words.key}_low": min(attacked), f"{words.key}_high": max(attacked)})
        if self.by == "num_malicious":
            rule = self.poisoning_rule()
            plan.update(poison_total_low=int(rule.iloc[0]["in total"]),
                        predicted_low=float(rule.iloc[0]["predicted shift"]),
                        predicted_high=float(rule.iloc[-1]["predicted shift"]))
        return plan

    def poisoning_rule(self) -> pd.DataFrame:
        """The paper's poisoning rule counted for the swept numbers of attackers (chapter 5,
        :func:`flsim.analysis.poisoning_rule`)."""
        base = self.base
        return analysis.poisoning_rule(self.num_samples, self.swept, base.malicious_data_rate, base.lr,
                                       base.batch_size, base.local_epochs, base.num_chosen)

    def run(self) -> SweepChapter:
        """Run the sweep (:func:`flsim.sweep`: what the result cache lacks), read it (:meth:`analyse`) and
        compare the default backdoor with the other side at its point
        (:func:`flsim.sides.compare_sides`; the default's runs there are the sweep's own)."""
        from .sides import compare_sides
        from .sweep import sweep

        self.analyse(sweep(self.configs))
        self.sides = compare_sides(self.base.replace(**{self.by: self.other_value}), self.default_set,
                                   self.other_set, seeds=self.seeds, swept=self.configs,
                                   num_samples=self.num_samples, point=self.point)
        return self

    def analyse(self, runs) -> SweepChapter:
        """Read the sweep's ``runs`` (Results, cached or hand-made): one row per run and tensor, one per
        run, per swept value the AUC and ratio of every tensor with their intervals, the case for the
        output bias, its target-class shift against the theory, and the seeds' spread of the
        accuracies (:mod:`flsim.analysis.sweeps`)."""
        by, n = self.by, self.num_samples
        self.runs, self.tensor = runs, runs[0].output_bias_tensor
        self.summary = analysis.sweep_summary(runs, by=by)
        self.per_run = analysis.sweep_runs(runs, by=by, num_samples=n)
        self.auc = analysis.sweep_auc(runs, self.summary, by)
        self.ratio = analysis.sweep_ratio(runs, by)
        self.evidence = analysis.sweep_evidence(self.auc, self.ratio, self.tensor, self.summary)
        self.shift = analysis.sweep_shift(runs, by, num_samples=n)
        self.backdoor = analysis.seed_spread(self.per_run, by, "backdoor_accuracy_last")
        self.main = analysis.seed_spread(self.per_run, by, "main_accuracy")
        x = self.words.exponent_x
        self.exponents = (None if x is None else analysis.shift_exponents(
            runs, by, x=None if x == "value" else x, num_samples=n))
        return self

    # What the chapter shows.

    def run_table(self) -> pd.DataFrame:
        """One row per run: the output bias's AUC and ratio, the backdoor and main-task accuracy."""
        return notebook.table(analysis.sweep_run_table(self.per_run, self.summary, self.by, self.tensor,
                                                       self.words.symbol))

    def evidence_tables(self) -> None:
        """The case for the output bias at each swept value, then every tensor's AUC and ratio."""
        from IPython.display import Markdown, display

        symbol, tensor = self.words.symbol, self.tensor
        display(Markdown(f"The case for {tensor} at each {self.words.noun}: its ROC-AUC and "
                         "malicious/benign ratio (means over seeds) with their intervals, their ranks "
                         "among the tensors (1 = the largest), and the seeds in which it tops its run "
                         "by each (AUC / ratio):"),
                notebook.table(analysis.evidence_table(self.evidence, tensor, symbol)),
                Markdown("Every tensor, the same two numbers:"),
                notebook.table(analysis.tensor_table(self.auc, self.ratio, tensor, symbol)))

    def shift_tables(self) -> None:
        """The attackers' target-class shift per swept value against the prediction and the honest
        spread, and where the chapter fits one, its power law's exponents."""
        from IPython.display import Markdown, display

        shown = [notebook.table(analysis.shift_table(self.shift, self.words.symbol))]
        if self.exponents is not None:
            x = "(poisoned samples)" if self.words.exponent_x == "poisoned" else self.words.symbol
            shown += [Markdown(f"The exponent k in quantity ~ {x}^k, with its 95% bootstrap interval "
                               "(lo, hi):"),
                      notebook.table(self.exponents.rename(index={
                          "measured": "attacker's shift", "honest_sd": "honest spread"}))]
        display(*shown)

    def figure(self, name: str) -> None:
        """Show one of the chapter's figures with its caption: "accuracy", "roles" (the paper's
        statistic per role and tensor), "tensors" (every tensor's ratio and AUC) or "shift"."""
        words, by, against = self.words, self.by, f"against {self.words.caption}"
        bands = "Lines: mean over seeds; bands: 95% interval."
        if name == "accuracy":
            fig = plots.sweep_accuracy(self.per_run, by, xlabel=words.axis, logx=words.logx)
            caption = (f"Backdoor accuracy (mean of the last 3 rounds) and main-task accuracy (final "
                       f"round) {against}. {bands}")
        elif name == "roles":
            fig = plots.sweep_roles(self.summary, by, xlabel=words.axis, logx=words.logx)
            caption = (f"The paper's statistic max |w_k - mean w| per parameter tensor, averaged over the "
                       f"malicious (red) and the honest (blue) clients' client-rounds, {against}. Each "
                       f"panel has its own logarithmic scale. {bands}")
        elif name == "tensors":
            fig = plots.sweep_layers(self.summary, by, RATIO_PANELS, xlabel=words.axis, logx=words.logx,
                                     references={"ratio": 1.0, "auc": 0.5}, highlight=self.tensor)
            caption = (f"Malicious/benign ratio of the mean deviation (left; 1 = no difference) and "
                       f"ROC-AUC of the deviation as a detector (right; 0.5 = chance) per parameter "
                       f"tensor, {against}; {self.tensor} in bold black. Means over seeds.")
        elif name == "shift":
            fig = plots.sweep_bias_shift(self.per_run, by, xlabel=words.axis, logx=words.logx)
            caption = (f"The attackers' target-class output-bias deviation b_t - mean b (red; mean over "
                       f"rounds and attackers), the first-order prediction (black, dashed) and the "
                       f"honest clients' standard deviation of the same quantity (blue), {against}. "
                       f"{bands}")
        else:
            raise ValueError(f"no figure {name!r}: accuracy, roles, tensors or shift")
        notebook.figure(fig, caption)

    # What the chapter's text glues.

    @property
    def values(self) -> dict:
        """Every value the chapter's text glues from its runs (glue names with the setting's ``key``, e.g.
        ``backdoor_by_m``), with the other side's (``Sides.values``, :mod:`flsim.sides`) and the verdict."""
        words, evidence, shift = self.words, self.evidence, self.shift
        k, symbol = words.key, words.symbol
        first, last = evidence.iloc[0], evidence.iloc[-1]
        low, high = shift.iloc[0], shift.iloc[-1]
        counts = pd.DataFrame([leads(row) for _, row in evidence.iterrows()])
        values = {
            "num_runs": len(self.runs), "num_values": len(evidence),
            "num_tensors": self.summary.layer.nunique(),
            "poisoned": int(self.per_run.poisoned.max()),  # per attacker, in the chapters that fix it
            "dose": ", ".join(f"{symbol} = {value:g}: {p}"
                              for value, p in self.per_run.groupby(self.by).poisoned.first().items()),
            f"backdoor_by_{k}": per_value_text(self.backdoor, symbol, spec=".0%"),
            f"main_by_{k}": per_value_text(self.main, symbol, spec=".1%"),
            f"backdoor_max_{k}": _plain(self.backdoor["mean"].idxmax()),
            "backdoor_note": took_hold(self.backdoor, words),
            "main_note": main_note(self.main, words.noun),
            f"bias_auc_by_{k}": per_value_text(evidence, symbol, "auc"),
            f"bias_ratio_by_{k}": per_value_text(evidence, symbol, "ratio", "ratio_lo", "ratio_hi"),
            f"best_by_{k}": "; ".join(f"{symbol} = {value:g}: {row.best} "
                                      f"({interval_text(row.best_auc, row.best_lo, row.best_hi)})"
                                      for value, row in evidence.iterrows()),
            f"best_ratio_by_{k}": "; ".join(
                f"{symbol} = {value:g}: {layer} ({interval_text(*self.ratio.loc[(value, layer)])})"
                for value, layer in self.ratio.ratio.unstack(sort=False).idxmax(axis=1).items()),
            "bias_top_auc": int((evidence.auc_rank == 1).sum()), "bias_clear": int(counts["AUC"].sum()),
            "bias_top_ratio": int((evidence.ratio_rank == 1).sum()),
            "bias_ratio_clear": int(counts["ratio"].sum()),
            "bias_auc_low": interval_text(first.auc, first.lo, first.hi),
            "bias_auc_high": interval_text(last.auc, last.lo, last.hi),
            "bias_ratio_low": interval_text(first.ratio, first.ratio_lo, first.ratio_hi),
            "bias_ratio_high": interval_text(last.ratio, last.ratio_lo, last.ratio_hi),
            "best_auc_high": interval_text(last.best_auc, last.best_lo, last.best_hi),
            "best_clear_high": "clear of" if last.best_lo > 0.5 else "within reach of",
            "shift_low": interval_text(low.measured, low.lo, low.hi, ".5f"),
            "shift_high": interval_text(high.measured, high.lo, high.hi, ".5f"),
            "shift_fraction_low": interval_text(low.fraction, low.fraction_lo, low.fraction_hi, ".0%"),
            "shift_fraction_high": interval_text(high.fraction, high.fraction_lo, high.fraction_hi, ".0%"),
            "shift_sd_low": interval_text(low.sd_units, low.sd_units_lo, low.sd_units_hi),
            "shift_sd_high": interval_text(high.sd_units, high.sd_units_lo, high.sd_units_hi),
            f"shift_by_{k}": per_value_text(shift, symbol, "measured", spec=".5f"),
            f"predicted_by_{k}": "; ".join(f"{symbol} = {value:g}: {p:.5f}" for value, p in shift.predicted.items()),
            f"fraction_by_{k}": per_value_text(shift, symbol, "fraction", "fraction_lo", "fraction_hi", ".0%"),
            f"sd_units_by_{k}": per_value_text(shift, symbol, "sd_units", "sd_units_lo", "sd_units_hi"),
        }
        if self.exponents is not None:
            values.update({f"exponent_{name}": exponent_text(self.exponents.loc[row]) for name, row in
                           (("shift", "measured"), ("sd", "honest_sd"), ("difference", "difference"))},
                          **({"cancel_note": cancel_note(self.exponents.loc["difference"], words.noun)}
                             if words.exponent_x == "value" else {}))
        if self.by == "malicious_data_rate":
            values.update(dose_values(self.auc, evidence))
        if self.sides is not None:
            values.update(self.sides.values)
            values["num_runs"] += self.sides.values["num_other_runs"] * self.runs_in_all
        values["verdict"] = self.verdict
        return values

    @property
    def verdict(self) -> str:
        """The chapter's verdict in three sentences of at most 40 words, the paper's claim for the default
        backdoor across the sweep (:func:`claim_sentence`), the chapter's own finding (the ratio's trend,
        :func:`trend_sentence`, or the shift's power law, :func:`exponent_sentence`), and the other
        side's verdict at its point (:func:`flsim.sides.side_verdict`)."""
        words = self.words
        set_words = semantic.set_words(self.default_set)
        sentences = [claim_sentence(self.evidence, self.tensor, set_words, words.nouns)]
        if words.trend == "exponent":
            sentences.append(exponent_sentence(self.exponents.loc["measured"], words.symbol,
                                               self.base.num_malicious))
        else:
            sentences.append(trend_sentence(self.evidence, self.tensor, words, self.summary.layer.nunique()))
        if self.sides is not None:
            sentences.append(self.sides.values["side_verdict"])
        return " ".join(sentences)

    def findings(self) -> pd.DataFrame:
        """The findings table: this run's numbers, their details beside them, and the verdict."""
        v, words, tensor = self.values, self.words, self.tensor
        k, n = words.key, v["num_values"]
        rows = {
            "runs": v["num_runs"], f"{words.nouns} {words.symbol}": ", ".join(f"{x:g}" for x in self.swept),
            "poisoned samples per attacker": v["dose"],
            "backdoor accuracy, mean of the last 3 rounds [lowest, highest seed]": v[f"backdoor_by_{k}"],
            "main-task accuracy, final round [lowest, highest seed]": v[f"main_by_{k}"],
            f"{tensor} the best tensor by ROC-AUC / and clear of chance":
                f"at {v['bias_top_auc']} / {v['bias_clear']} of {n} {words.nouns}",
            f"{tensor} the largest malicious/benign ratio / and clear of 1":
                f"at {v['bias_top_ratio']} / {v['bias_ratio_clear']} of {n} {words.nouns}",
            f"{tensor} ROC-AUC [two standard errors]": v[f"bias_auc_by_{k}"],
            f"{tensor} malicious/benign ratio [95% interval]": v[f"bias_ratio_by_{k}"],
            "best tensor by ROC-AUC": v[f"best_by_{k}"],
            "best tensor by ratio": v[f"best_ratio_by_{k}"],
            "target-class bias shift, measured (logit units) [95% interval]": v[f"shift_by_{k}"],
            "target-class bias shift, predicted by the first-order theory": v[f"predicted_by_{k}"],
            "bias shift, measured / predicted [95% interval]": v[f"fraction_by_{k}"],
            "bias shift in honest standard deviations [95% interval]": v[f"sd_units_by_{k}"],
        }
        if self.exponents is not None:
            x = "the poisoned samples" if words.exponent_x == "poisoned" else words.symbol
            rows[f"exponent k of the bias shift in {x} (theory: 1) [95% interval]"] = v["exponent_shift"]
            rows[f"exponent k of the honest spread in {x} [95% interval]"] = v["exponent_sd"]
        if self.sides is not None:
            rows["activation scale before any attack (chapter 4's law)"] = v["scales_text"]
            rows.update({f"{tensor} at {self.point}, {self.sides.names[name]}": standing
                         for name, standing in self.sides.standings.items()})
        return notebook.summary(rows, v["verdict"])
