"""Chapter 1's first-order theory against the runs: round 1 of a federation taken apart (the
microscope), the attacker's measured target-class bias shift against the prediction over a run and
over a one-round grid of settings, and the words for what they show.

:class:`Microscope` holds round 1 of :func:`flsim.setup`'s federation with client 0 attacking; each
method returns the numbers the chapter glues (and a table where it shows one). :class:`Grid` is the
one-round grid (learning rates, malicious data rates, seeds); :func:`trend_findings`,
:func:`shift_exponent` and :func:`verdict` say what the grid shows. A chapter builds no sentence in
code: these do, from :mod:`flsim.analysis.words`' primitives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from .. import attacks, theory
from .bias import bias_shift, client_gradients, mean_overlap, output_bias_terms, output_layer_zscores
from .statistics import mean_interval, power_law_exponent, rank_trend
from .words import exponent_text, interval_text


def shown(value: float, digits: int = 4) -> float:
    """``value`` rounded to the digits the text shows, so that none reads "-0.0000" (chapter 1)."""
    return float(np.round(value, digits)) + 0.0


def plan_numbers(config, lr_values, rate_values, seeds) -> dict:
    """The overview's counts of chapter 1's plan: the full run's size and the one-round grid's (learning
    rates ``lr_values``, malicious data rates ``rate_values``, ``seeds``). The grid's intervals are over
    its seeds, so fewer than two distinct seeds are refused here, before any run."""
    if len(set(seeds)) < 2:
        raise ValueError(f"seeds={list(seeds)}: the one-round grid needs two seeds or more for its intervals")
    return dict(num_rounds=config.num_rounds, num_clients=config.num_clients,
                samples_per_client=config.samples_per_client, malicious_data_rate=config.malicious_data_rate,
                seed=config.seed, num_seeds=len(set(seeds)), num_lr_values=len(lr_values),
                num_rate_values=len(rate_values))


class Microscope:
    """Round 1 of ``federation`` (:func:`flsim.setup`; one attacker, client 0) taken apart (chapter 1):
    the server's pre-trained model, the attacker's poisoned samples and the classes the backdoor
    relabels, the output layer's gradient against autograd, the prediction errors, each client's
    gradient in honest standard deviations and one local epoch's target-class bias change term by term.

    Round 1 is drawn once, here (a federation draws its rounds in order), so :meth:`bias_terms`, which
    consumes the round's batch orders, runs once.
    """

    def __init__(self, federation):
        self.federation = federation
        self.config = c = federation.config
        self.trainer, self.weights = federation.trainer, federation.global_weights
        self.model = self.trainer.model
        self.round = federation.round(1)
        self.parties = self.round.datasets  # client 0 attacks: its data is the poisoned copy
        self.x, self.y = self.parties[0]
        self.poisoned = torch.zeros(len(self.y), dtype=torch.bool)
        self.poisoned[attacks.poison_positions(len(self.poisoned), 1, c.malicious_data_rate)] = True
        dataset = federation.dataset
        self.classes = dataset.classes
        self.target = c.target_class
        self.source = int(dataset.train_y[federation.backdoor.excluded].mode().values)  # the images' true class
        self.predicted = theory.predicted_bias_shift(c.samples_per_client, 1, c.malicious_data_rate, c.lr,
                                                     c.batch_size, c.local_epochs, c.num_clients)

    def sample_passes(self, rounds: int) -> int:
        """Sample-passes of training of a run of ``rounds`` rounds: the server's pre-training, then each
        round's local epochs on every client's data."""
        c = self.config
        server = len(self.federation.server_data[1]) * c.local_epochs
        return server + rounds * c.num_clients * c.samples_per_client * c.local_epochs

    def overview(self) -> dict:
        """The pre-trained model's test accuracy (%), the server's samples, the attacker's poisoned
        samples, the source and target class names, and the sample-passes of this round and of the run."""
        accuracy = self.federation.evaluate(self.weights)["main_accuracy"]
        return dict(global_accuracy=100 * accuracy, server_samples=len(self.federation.server_data[1]),
                    num_poisoned=int(self.poisoned.sum()), source_name=self.classes[self.source],
                    target_name=self.classes[self.target], microscope_sample_passes=self.sample_passes(1),
                    full_run_sample_passes=self.sample_passes(self.config.num_rounds))

    def autograd_check(self) -> tuple[pd.DataFrame, dict]:
        """The output layer's gradient on the attacker's first minibatch by autograd and in closed form
        (:func:`flsim.theory.output_layer_gradients`): a table of dL/db by class, and autograd_gap (the
        largest difference over W and b), bias_gradient_sum and batch_poisoned."""
        first = slice(0, self.config.batch_size)  # the attacker's first minibatch, poisoned samples included
        layers = self.trainer.layers
        autograd = self.trainer.gradient(self.weights, self.x[first], self.y[first])  # loads the weights
        with torch.no_grad():
            a = self.model.features(self.x[first])
            dW, db = theory.output_layer_gradients(a, self.model.fc2.weight, self.model.fc2.bias, self.y[first])
        gap = max(float((dW.reshape(-1) - autograd[layers["fc2.weight"]]).abs().max()),
                  float((db - autograd[layers["fc2.bias"]]).abs().max()))
        table = pd.DataFrame({"class": self.classes, "dL/db closed form": db.numpy(),
                              "dL/db autograd": autograd[layers["fc2.bias"]].numpy()}).set_index("class")
        return table, dict(autograd_gap=gap, bias_gradient_sum=float(db.sum()),
                           batch_poisoned=int(self.poisoned[first].sum()))

    @torch.no_grad()
    def errors(self) -> tuple[pd.DataFrame, dict]:
        """The prediction error p - y of the attacker's samples under the pre-trained model: a table of its
        mean per class over the poisoned and the clean samples, and the poisoned samples' mean (and
        largest) target entry and mean source entry."""
        self.trainer.load(self.weights)
        error = torch.softmax(self.model(self.x), 1) - F.one_hot(self.y, len(self.classes))
        p, t, s = self.poisoned, self.target, self.source
        table = pd.DataFrame({"class": self.classes, "poisoned samples": error[p].mean(0).numpy(),
                              "clean samples": error[~p].mean(0).numpy()}).set_index("class")
        return table, dict(poisoned_target_error=float(error[p, t].mean()),
                           poisoned_target_error_max=float(error[p, t].max()),
                           poisoned_source_error=float(error[p, s].mean()))

    def zscores(self) -> pd.DataFrame:
        """:func:`~flsim.analysis.output_layer_zscores` of the attacker's full-batch gradient at the pre-trained model."""
        gradients = client_gradients(self.trainer, self.weights, self.parties)
        malicious = [True] + [False] * (len(self.parties) - 1)
        return output_layer_zscores(gradients, malicious, self.trainer.layers, self.target)

    @torch.no_grad()
    def dilution(self, zscores: pd.DataFrame) -> dict:
        """Does the target-class bias stand out most among the output layer's entries (the dilution
        argument)? Its z and rank by |z|, the most anomalous target-row weight's z, how much more its input
        unit fires on poisoned than on clean samples, and the samples' mean overlaps a_i . a_j."""
        ranked = zscores.assign(size=zscores.z.abs()).sort_values("size", ascending=False, ignore_index=True)
        bias = ranked[ranked.group == "bias, target class"].iloc[0]
        top = ranked[ranked.group == "weights, target class"].iloc[0]  # most anomalous target-row weight
        self.trainer.load(self.weights)
        a = self.model.features(self.x)  # the attacker's activations under the global model
        p = self.poisoned
        return dict(
            bias_z=float(bias.z), bias_rank=int(bias.name) + 1, num_entries=len(zscores), top_weight_z=float(top.z),
            top_unit_activation_ratio=float(a[p, top.unit].mean() / a[~p, top.unit].mean()),
            overlap_poisoned=mean_overlap(a[p]), overlap_clean=mean_overlap(a[~p]),
            dilution_verdict="holds" if bias.name == 0 else "does not hold",
            bias_z_sign=("negative: a descent step raises the attacker's target-class bias more than an "
                         "honest client's" if bias.z < 0 else "positive, against the theory's sign"))

    def prediction(self) -> dict:
        """The first-order bias shift (``predicted``, logit units) and why the poisoned labels' term
        differs from it (``last_batch_note``)."""
        batch = self.config.batch_size
        last = self.config.samples_per_client % batch  # 0: every batch is full
        return dict(predicted=self.predicted,
                    last_batch_note=f"differs only because the last batch holds {last} samples, not {batch}, "
                                    "and so weighs each of them more" if last else
                                    "is the same, since every batch is full")

    def bias_terms(self) -> pd.DataFrame:
        """:func:`~flsim.analysis.output_bias_terms` of every client's local epoch of round 1 (rows: clients), in the
        round's own batch orders."""
        marks = [self.poisoned] + [torch.zeros_like(self.poisoned)] * (len(self.parties) - 1)
        return pd.DataFrame([output_bias_terms(self.trainer, self.weights, xk, yk, marked, self.target, order)
                             for (xk, yk), marked, order in zip(self.parties, marks, self.round.orders)])

    def term_findings(self, terms: pd.DataFrame) -> dict:
        """The attacker's share of each term of :meth:`bias_terms` (term_*, rounded as shown), the measured
        deviation against the prediction and the honest spread, the target labels an honest client and the
        attacker's clean data hold, and how much of the rise of p_t comes through the bias itself."""
        deviation = terms - terms.mean()  # each term's share of b_t - mean b
        attacker = deviation.iloc[0]
        rise = attacker.rise_via_bias + attacker.rise_via_weights  # through every weight
        rise_all = deviation.rise_via_bias + deviation.rise_via_weights
        found = dict(term_poisoned=attacker.poisoned_labels, term_clean=attacker.clean_labels,
                     term_start=-attacker.start_probability, term_rise=-rise, micro_measured=attacker.bias_change)
        return {**{name: shown(value) for name, value in found.items()},
                "micro_ratio": float(attacker.bias_change / self.predicted),
                "micro_benign_sd": float(deviation.bias_change[1:].std()),
                "benign_targets": float(np.mean([(yk == self.target).sum().item() for _, yk in self.parties[1:]])),
                "attacker_clean_targets": int(((self.y == self.target) & ~self.poisoned).sum()),
                "rise_bias_max": float(deviation.rise_via_bias.abs().max()),
                "rise_bias_share": float(deviation.rise_via_bias.abs().max() / rise_all.abs().max()),
                "bias_move_max": float(terms.bias_change.abs().max()),
                "pullback_share": float(rise / attacker.poisoned_labels)}


def waterfall_steps(terms: pd.DataFrame) -> dict[str, float]:
    """The attacker's share of :func:`~flsim.analysis.output_bias_terms`' terms, signed as they add up to its measured
    deviation, for :func:`flsim.plots.waterfall` (chapter 1)."""
    attacker = (terms - terms.mean()).iloc[0]
    return {"poisoned labels": attacker.poisoned_labels, "clean target labels": attacker.clean_labels,
            "p_t at the start": -attacker.start_probability,
            "rise of p_t": -(attacker.rise_via_bias + attacker.rise_via_weights)}


def rounds_findings(rounds: pd.DataFrame, results) -> dict:
    """Over a run's rounds (:func:`~flsim.analysis.bias_shift`): the measured over predicted shift (mean, min, max and
    round 1's), the attacker's per-round standard z, (attacker - honest mean) / honest sd within each
    round (mean, min, max), and the backdoor accuracy (%) after the last round (chapter 1)."""
    ratio = rounds.ratio.agg(["mean", "min", "max"]).to_dict() | {"first": rounds.ratio.iloc[0]}
    z = ((rounds.malicious - rounds.benign_mean) / rounds.benign_sd).agg(["mean", "min", "max"])
    return {**{f"rounds_ratio_{name}": shown(value, 2) for name, value in ratio.items()},
            **{f"per_round_standard_z_{name}": shown(value, 1) for name, value in z.items()},
            "final_backdoor_accuracy": float(100 * results.rounds.backdoor_accuracy.iloc[-1])}


@dataclass
class Grid:
    """Chapter 1's one-round grid: ``one_round`` (a one-round config) at each learning rate of
    ``lr_values`` and each malicious data rate of ``rate_values``, each on every seed of ``seeds``, and at
    its own settings on every seed (the verdict's runs, in the grid or not). ``configs`` lists them for
    :func:`flsim.sweep`, which runs a config listed twice once."""

    one_round: object
    lr_values: list
    rate_values: list
    seeds: list
    plan: list = field(init=False)
    at_defaults: list = field(init=False)

    def __post_init__(self):
        c = self.one_round
        self.plan = ([("learning rate", f"lr {v}", s, c.replace(lr=v, seed=s)) for v in self.lr_values
                      for s in self.seeds]
                     + [("malicious data rate", f"r {v}", s, c.replace(malicious_data_rate=v, seed=s))
                        for v in self.rate_values for s in self.seeds])
        self.at_defaults = [c.replace(seed=s) for s in self.seeds]

    @property
    def configs(self) -> list:
        return [config for *_, config in self.plan] + self.at_defaults

    def shifts(self, results) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:func:`~flsim.analysis.bias_shift` of the grid's runs (``results``, in the order of ``configs``), with columns
        varied, setting and seed; and of the runs at the defaults."""
        shifts = pd.concat([bias_shift(r).assign(varied=varied, setting=setting, seed=s)
                            for (varied, setting, s, _), r in zip(self.plan, results)], ignore_index=True)
        defaults = pd.concat([bias_shift(r) for r in results[len(self.plan):]], ignore_index=True)
        return shifts, defaults

    def run_numbers(self, full_run, passes_per_run: int) -> dict:
        """num_runs (the grid's distinct runs and ``full_run``), grid_runs and grid_sample_passes, each
        grid run costing ``passes_per_run`` sample-passes."""
        distinct = len({config.key() for config in self.configs})
        return dict(num_runs=len({config.key() for config in [*self.configs, full_run]}), grid_runs=distinct,
                    grid_sample_passes=distinct * passes_per_run)

    def findings(self, results, settings: pd.DataFrame, defaults: pd.DataFrame) -> dict:
        """The grid's numbers for the text: the range of the settings' mean ratios, the settings whose
        interval lies below 1, the smallest, the ratio at the defaults over the seeds (default_ratio, _lo,
        _hi and as text), what it says of the prediction (shortfall_verdict, default_zero_note), and the
        lowest malicious data rate's poisoned samples, ratio and backdoor accuracy (%)."""
        low_rate = min(self.rate_values)
        low = [r for (_, setting, *_), r in zip(self.plan, results) if setting == f"r {low_rate}"]
        ratio, lo, hi = mean_interval(defaults.ratio)
        n = self.one_round.samples_per_client
        poisoned_at_low_rate = len(attacks.poison_positions(n, 1, low_rate))
        return dict(
            grid_ratio_min=shown(settings.ratio.min(), 2), grid_ratio_max=shown(settings.ratio.max(), 2),
            settings_below=int((settings.hi < 1).sum()), num_settings=len(settings),
            smallest_setting=str(settings.ratio.idxmin()),
            default_ratio=ratio, default_ratio_lo=lo, default_ratio_hi=hi,
            default_ratio_text=interval_text(ratio, lo, hi), rate_low=str(low_rate),
            rate_low_poisoned=poisoned_at_low_rate, rate_low_share=poisoned_at_low_rate / n,
            rate_low_ratio_text=interval_text(*settings.loc[f"r {low_rate}", ["ratio", "lo", "hi"]]),
            rate_low_backdoor=100 * float(np.mean([r.rounds.backdoor_accuracy.iloc[-1] for r in low])),
            shortfall_verdict=shortfall(lo, hi), default_zero_note=zero_note(lo, hi))


def shortfall(lo: float, hi: float) -> str:
    """How a measured over predicted ratio with the interval [lo, hi] stands to the prediction (1)."""
    return ("several times smaller than" if hi < 0.5 else "smaller than" if hi < 1 else "larger than" if lo > 1
            else "not distinguishable from")


def zero_note(lo: float, hi: float) -> str:
    """What the interval [lo, hi] of a measured over predicted shift says of no shift at all (0)."""
    return (", an interval above zero: the attacker's bias did move beyond the honest clients'" if lo > 0
            else ", an interval that includes no shift at all" if hi >= 0
            else ", an interval below zero: the bias moved the other way")


# What a trend of the ratio means for the pull-back, per grid axis: (glue prefix, what is varied, a fall
# explains, a rise is against, no trend leaves untested).
TREND_MEANINGS = {
    "learning rate": ("lr", "the learning rate",
                      "as the pull-back explains: larger steps let the weights raise p_t sooner within the "
                      "epoch, so more of the push is pulled back",
                      "against the pull-back, by which larger steps pull more of the push back",
                      "so this grid does not show the pull-back growing with the step size"),
    "malicious data rate": ("rate", "the number of poisoned samples",
                            "as the pull-back explains: the more of its data the attacker poisons, the sooner "
                            "it learns the new label within its epoch, and the factor (1 - p_t) that the formula "
                            "sets to 1 shrinks",
                            "against the pull-back, by which a larger poisoned share pulls more of the push back",
                            "so this grid does not show a larger poisoned share pulling more of the push back"),
}


def trend_direction(trend: dict, varied: str) -> str:
    """How the ratio moved as ``varied`` grew, by :func:`~flsim.analysis.rank_trend`'s interval over the seeds."""
    if trend["groups"] < 2:
        return f"cannot show a trend with {varied}: the grid needs two values or more of it"
    if trend["hi"] < 0:
        return f"fell with {varied}"
    if trend["lo"] > 0:
        return f"rose with {varied}"
    return f"showed no trend with {varied} that the seeds tell from none"


def trend_text(trend: dict, varied: str, explains: str, against: str, untested: str, short: bool = False) -> str:
    """:func:`trend_direction` with the seeds' evidence (Spearman's rank correlation, mean over the
    seeds with its interval) and, unless ``short``, the seeds' signs and what that says of the pull-back
    (``explains``, ``against`` or ``untested``), for the text (chapter 1)."""
    direction = trend_direction(trend, varied)
    if trend["groups"] < 2:
        return direction
    rho = interval_text(trend["rho"], trend["lo"], trend["hi"])
    evidence = f"Spearman's rank correlation {rho}, mean over {trend['groups']} seeds, 95% interval"
    if not short:
        evidence += (f"; negative in {trend['negative']} of the seeds, and -1, a fall at every "
                     f"step, in {trend['falling'] or 'none'}")
    meaning = explains if trend["hi"] < 0 else against if trend["lo"] > 0 else untested
    return f"{direction} ({evidence}){'' if short else ', ' + meaning}"


def trend_findings(shifts: pd.DataFrame) -> dict:
    """Per grid axis (``lr_``, ``rate_``): the ratio's :func:`~flsim.analysis.rank_trend` against the predicted shift over
    the seeds (its keys, those that are numbers), its text in full (``_trend``), short (``_trend_short``)
    and as a bare direction (``_trend_direction``)."""
    found = {}
    for varied, (name, words, *meanings) in TREND_MEANINGS.items():
        trend = rank_trend(shifts[shifts.varied == varied], "predicted", "ratio")
        found |= {f"{name}_trend": trend_text(trend, words, *meanings),
                  f"{name}_trend_short": trend_text(trend, words, *meanings, short=True),
                  f"{name}_trend_direction": trend_direction(trend, words),
                  **{f"{name}_trend_{key}": value for key, value in trend.items() if not np.isnan(value)}}
    return found


def shift_exponent(shifts: pd.DataFrame, level: float = 0.95, draws: int = 2000, seed: int = 0) -> dict:
    """The exponent k in measured shift ~ predicted shift^k over ``shifts``' settings (one grid axis: the
    prediction is linear in what is varied, so k is the exponent in it too), fitted to the means over the
    seeds (:func:`~flsim.analysis.power_law_exponent`), with a percentile bootstrap interval at ``level`` over the seeds
    (the seeds resampled with replacement; a draw with a mean that is not positive is left out, as
    :func:`flsim.analysis.shift_exponents` does). Keys k, lo, hi (NaN where undefined) and text. The
    round-1 counterpart of chapter 6's exponent, which averages over the rounds of longer runs."""
    table = shifts.pivot_table(index="seed", columns="predicted", values="malicious")
    x, values = table.columns.to_numpy(dtype=float), table.to_numpy()
    k = power_law_exponent(x, values.mean(0)) if len(x) >= 2 else float("nan")
    rng = np.random.default_rng(seed)
    drawn = [power_law_exponent(x, values[rng.integers(0, len(values), len(values))].mean(0))
             for _ in range(draws)] if k == k and len(values) >= 2 else []
    drawn = np.asarray(drawn, dtype=float)
    drawn = drawn[~np.isnan(drawn)]
    tail = 100 * (1 - level) / 2
    lo, hi = (np.percentile(drawn, [tail, 100 - tail]) if len(drawn) else (np.nan, np.nan))
    row = pd.Series(dict(k=k, lo=float(lo), hi=float(hi)))
    return dict(k=k, lo=float(lo), hi=float(hi), text=exponent_text(row))


def predictors_text(table: pd.DataFrame) -> str:
    """:func:`flsim.semantic.predictor_table`'s rows as one line of text (chapter 1's prediction for
    chapter 4): "name: activation scale 1.10, 1 - p_t 0.991, cosine 0.96; ..."."""
    return "; ".join(f"{name}: activation scale {p.activation_scale:.2f}, 1 - p_t {p.poisoned_error:.3f}, "
                     f"cosine {p.similarity:.2f}" for name, p in table.iterrows())


def verdict(found: dict) -> str:
    """Chapter 1's verdict from its glued numbers ``found``: whether the closed form matches autograd,
    how the round-1 shift at the defaults stands to the prediction (with its interval over the seeds),
    and the trends of that ratio across the one-round grid, with the round-1 exponent of the shift in the
    learning rate (chapter 6 fits it over longer runs); in sentences of at most 40 words."""
    matches = "matches" if found["autograd_gap"] < 1e-4 else "does not match"
    lo, hi = found["default_ratio_lo"], found["default_ratio_hi"]
    zero = ("That interval lies above zero: the attacker's bias did move beyond the honest clients'." if lo > 0
            else "That interval includes no shift at all." if hi >= 0
            else "That interval lies below zero: the bias moved the other way.")
    return (f"The closed form of the output layer's gradient {matches} autograd. "
            f"In round 1 at the defaults the measured bias shift was {found['shortfall_verdict']} the "
            f"first-order prediction: {found['default_ratio_text']} of it ({found['num_seeds']} seeds, "
            f"95% interval). {zero} "
            f"Across the one-round grid the ratio {found['lr_trend_direction']}. "
            f"It {found['rate_trend_direction']}. "
            f"In round 1 the shift grew like lr^k with k = {found['lr_exponent_text']}; chapter 6 fits k over "
            "longer runs.")


def findings(found: dict) -> dict:
    """The findings table of chapter 1 (label -> value) from its glued numbers ``found``."""
    g = found
    trends = {f"rank correlation of the ratio with {varied} (95% interval)":
              interval_text(g[f"{name}_trend_rho"], g[f"{name}_trend_lo"], g[f"{name}_trend_hi"])
              if g[f"{name}_trend_groups"] >= 2 else "no trend to measure"
              for name, varied in (("lr", "the learning rate"), ("rate", "the poisoned samples"))}
    return {
        "largest difference, closed form vs autograd": f"{g['autograd_gap']:.1e}",
        "bias gradient summed over the classes": f"{g['bias_gradient_sum']:.1e}",
        "poisoned samples' mean error, target / source class":
            f"{g['poisoned_target_error']:.2f} / {g['poisoned_source_error']:.2f}",
        f"rank of the target-class bias among the output-layer entries, by |z| (seed {g['seed']})":
            f"{g['bias_rank']} of {g['num_entries']} (z = {g['bias_z']:.1f})",
        f"largest |z| of a target-row weight (seed {g['seed']})": f"{abs(g['top_weight_z']):.1f}",
        "predicted bias shift per round (logit units)": f"{g['predicted']:.4f}",
        f"measured / predicted shift, round 1 at the defaults ({g['num_seeds']} seeds, 95% interval)":
            g["default_ratio_text"],
        "measured / predicted shift, mean over the full run's rounds (one seed)": f"{g['rounds_ratio_mean']:.2f}",
        "measured / predicted shift, one-round grid (means over the seeds)":
            f"{g['grid_ratio_min']:.2f} to {g['grid_ratio_max']:.2f}",
        **trends,
        "exponent k of the round-1 shift in the learning rate, shift ~ lr^k (95% interval over the seeds)":
            g["lr_exponent_text"],
        "per-round standard z of the attacker's target-class bias, mean over the rounds":
            f"{g['per_round_standard_z_mean']:+.1f}",
        "backdoor accuracy after the last round": f"{g['final_backdoor_accuracy']:.0f}%",
    }
