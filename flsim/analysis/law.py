"""Chapter 4's law and its verdict: many semantic backdoors built by stated rules (:mod:`flsim.semantic`), run
in one regime beside the map's own, where each one's anomaly sits in round 1 against what the pre-trained
model says of its images before any attack; which predictor tracks fc2.bias's lead, inside each rule and
held out by rule; then the chapter's one verdict and its findings table, from the values it glued."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import attacks, semantic
from ..data import load
from ..federation import setup
from ..panels import panel, panel_configs
from .regimes import MapPlan, first_rounds, tensor_lead, training_text
from .statistics import bootstrap_rank_correlation
from .sweeps import sweep_summary
from .words import count_text, interval_text, plural

PREDICTORS = ["poisoned_error", "activation_scale", "similarity"]
OUTCOMES = {"z lead": "z lead", "z share": "seeds led by z", "ratio rank": "ratio rank (1: largest)"}
SHOWN = {"z seeds": "seeds", "ratio rank": "rank", "ratio seeds": "seeds ", "poisoned_error": "1 - p_t",
         "activation_scale": "scale", "similarity": "cos"}


def rho_text(rho: float, low: float, high: float) -> str:
    """A rank correlation in words: "rho [low, high]", "rho (no interval)", or "undefined (constant)" where a
    constant outcome or predictor has none."""
    if not np.isfinite(rho):
        return "undefined (constant)"
    return interval_text(rho, low, high) if np.isfinite(low) else f"{rho:.2f} (no interval)"


def law_table(summary: pd.DataFrame, rules: pd.Series, predictors: pd.DataFrame,
              tensor: str = "fc2.bias") -> pd.DataFrame:
    """Per backdoor (column backdoor of ``summary``, one row per run and tensor): the tensor's z lead over
    the strongest other tensor (mean over seeds) and the seeds it leads in (k/n), its rank by the paper's
    ratio (mean over seeds; 1: largest) and the seeds it has the largest ratio in, whether it has the
    largest mean ratio (ratio first), the share of seeds it leads by z (z share), the ``predictors`` (rows
    by backdoor) and the ``rules`` that built each backdoor (NaN for the map's own)."""
    z = tensor_lead(summary, ["backdoor"], tensor).set_index("backdoor")
    ratio = tensor_lead(summary, ["backdoor"], tensor, measure="ratio").set_index("backdoor")
    mean_ratio = summary.groupby(["backdoor", "layer"], sort=False).ratio.mean().unstack()
    law = pd.DataFrame({"z lead": z.lead, "z seeds": [f"{k}/{n}" for k, n in zip(z.runs_led, z.runs)],
                        "ratio rank": mean_ratio.rank(axis=1, ascending=False)[tensor],
                        "ratio seeds": [f"{k}/{n}" for k, n in zip(ratio.runs_led, ratio.runs)]}, index=z.index)
    law["ratio first"] = ratio.leader == tensor
    law["z share"] = z.runs_led / z.runs  # the share of seeds the tensor leads by z
    law = law.join(predictors)
    law["rule"] = rules.reindex(law.index)
    return law


def correlations(built: pd.DataFrame, predictors=PREDICTORS, outcomes=OUTCOMES) -> dict:
    """(predictor, outcome) -> Spearman's rho with its percentile bootstrap interval over the backdoors."""
    return {(p, o): bootstrap_rank_correlation(built[p], built[o]) for p in predictors for o in outcomes}


def best_predictor(found: dict, predictors=PREDICTORS, outcome: str = "z lead") -> str:
    """The predictor with the largest |rho| with ``outcome`` (one without a correlation comes last)."""
    return max(predictors, key=lambda p: np.nan_to_num(abs(found[p, outcome][0]), nan=-1))


class Law:
    """The law's runs: ``size`` images of each source class of ``source_classes`` picked by each rule of
    ``rules`` (:func:`flsim.semantic.semantic_family`), every such backdoor and the map's own beside them
    in one panel per seed of ``seeds``, at one regime (``training``: [samples_per_client, local_epochs])
    and one dose ``r``; and the predictors of every backdoor from each seed's pre-trained model."""

    def __init__(self, plan: MapPlan, rules, source_classes, size: int, training, r: int, seeds):
        self.plan, self.rules, self.source_classes, self.size = plan, list(rules), list(source_classes), size
        self.training, self.r, self.seeds = list(training), r, list(seeds)

    def run(self) -> "LawReading":
        """Build the backdoors, run their panels, read the predictors (timed: the runs, then all)."""
        start = time.perf_counter()
        plan, base = self.plan, self.plan.base
        classes = load(base.dataset).classes
        families = pd.DataFrame([dict(rule=rule, source=classes[c], indices=semantic.semantic_family(
            base.dataset, rule, c, self.size, target_class=base.target_class))
            for rule in self.rules for c in self.source_classes])
        families.index = [f"{f.rule}, {f.source}" for f in families.itertuples()]
        # the law's backdoors, then the map's: its semantic sets and the trigger, on one pool
        variants = [dict(attack="semantic", semantic_indices=i) for i in families.indices]
        variants += list(plan.backdoors.values())
        names = list(families.index) + [plan.short[name] for name in plan.backdoors]
        law_base = base.replace(num_rounds=1, samples_per_client=self.training[0], local_epochs=self.training[1],
                                malicious_data_rate=self.r)
        members = panel_configs(law_base, variants)
        runs = [result for seed in self.seeds for result in panel([c.replace(seed=seed) for c in members])]
        run_seconds = time.perf_counter() - start
        images = {**dict(zip(families.index, families.indices)),
                  **{plan.short[n]: attacks.semantic_indices(base.dataset, s)
                     for n, s in zip(plan.backdoors, plan.semantic_sets)}}
        per_seed = [semantic.predictor_table(setup(members[0].replace(seed=seed)), images)
                    for seed in self.seeds]  # each seed's panel's pre-trained model
        predictors = pd.concat(per_seed).groupby(level=0, sort=False).mean()
        summary = sweep_summary([first_rounds(r, 1) for r in runs], by=[])
        summary["backdoor"] = [names[run % len(members)] for run in summary.run]
        return LawReading(self, law_table(summary, families.rule, predictors), images, len(runs), run_seconds,
                          time.perf_counter() - start)


class LawReading:
    """What the law's runs say (``law``: :func:`law_table`), read over the rule-built backdoors."""

    def __init__(self, law: Law, table: pd.DataFrame, images: dict, num_runs: int, run_seconds: float,
                 seconds: float):
        self.spec, self.law, self.images = law, table, images
        self.num_runs, self.run_seconds, self.seconds = num_runs, run_seconds, seconds
        self.built = table[table.rule.notna()]
        self.correlations = correlations(self.built)
        self.best = best_predictor(self.correlations)
        self.rho, self.low, self.high = self.correlations[self.best, "z lead"]
        # leave one rule out; and the best predictor's correlation inside each rule
        self.held = semantic.leave_one_group_out(self.built, PREDICTORS, "z lead", "rule", label="ratio first")
        self.within = {rule: bootstrap_rank_correlation(rows[self.best], rows["z lead"])
                       for rule, rows in self.built.groupby("rule", sort=False)}

    def table(self) -> pd.DataFrame:
        """The law's table as the chapter shows it: outcomes, then the predictors, short names."""
        return self.law.drop(columns=["ratio first", "z share", "rule"]).rename(columns=SHOWN)

    def correlation_table(self) -> pd.DataFrame:
        """Each predictor (rows) against each outcome (columns): Spearman's rho [95% bootstrap interval]."""
        return pd.DataFrame({label: [rho_text(*self.correlations[p, o]) for p in PREDICTORS]
                             for o, label in OUTCOMES.items()}, index=PREDICTORS)

    def rule_table(self) -> pd.DataFrame:
        """Per rule: its backdoors, the predictor chosen when the rule is held out, and the best predictor's
        Spearman correlation with the z lead inside the rule."""
        rules = list(self.within)  # in the order the rules were built
        return pd.DataFrame({"backdoors": self.built.groupby("rule").size().loc[rules].to_numpy(),
                             "chosen held out": self.held.groupby("rule").chosen.first().loc[rules].to_numpy(),
                             "Spearman inside": [rho_text(*self.within[rule]) for rule in rules]},
                            index=pd.Index(rules, name="rule"))

    def known(self) -> pd.Index:
        """The map's named backdoors with a value of the best predictor (the trigger has none)."""
        return self.law.index[self.law.rule.isna() & self.law[self.best].notna()]

    def words(self) -> dict:
        """The values the chapter's text cites, by glue name."""
        spec, built, law, best, held, within = self.spec, self.built, self.law, self.best, self.held, self.within
        hits = int((held.predicted_label.astype(bool) == held["ratio first"]).sum())
        majority = int(max(built["ratio first"].sum(), (~built["ratio first"]).sum()))
        # the map's two sets on the best predictor's axis: where they sit among the rule-built backdoors
        x, y = built[best].to_numpy(float), built["z lead"].to_numpy(float)
        slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(y.mean()))

        def place(name):
            below = int((built[best] < law.loc[name, best]).sum())
            return (f"{name}: {best} {law.loc[name, best]:.2f}, above {below} of the {len(built)} "
                    f"rule-built backdoors, z lead {law.loc[name, 'z lead']:.1f} "
                    f"(line fit: {intercept + slope * law.loc[name, best]:.1f})")

        steps = spec.plan.steps(*spec.training)
        low, high = self.low, self.high
        return dict(
            law_count=len(built), law_rules_text=", ".join(spec.rules), law_r=spec.r, law_family_size=spec.size,
            law_class_count=len(spec.source_classes), law_seed_count=len(spec.seeds),
            law_regime_text=f"{training_text(*spec.training)}, {plural(steps, 'local step')}",
            law_runs=self.num_runs, law_seconds=float(self.seconds), law_run_seconds=float(self.run_seconds),
            law_ratio_first_count=int(built["ratio first"].sum()), law_z_first_count=int((built["z lead"] > 0).sum()),
            law_best=best, law_best_text=rho_text(*self.correlations[best, "z lead"]),
            law_held_choice=", ".join(f"{r}: {c}" for r, c in held.groupby("rule", sort=False).chosen.first().items()),
            law_held_text=rho_text(*bootstrap_rank_correlation(held.predicted, held["z lead"])),
            law_within_text="; ".join(f"{rule}: {rho_text(*rho)}" for rule, rho in within.items()),
            law_within_count=sum(1 for rho, lo, hi in within.values()
                                 if np.sign(rho) == np.sign(self.rho) and lo * hi > 0),
            law_same_images="; ".join(f"the {n} are the images of {b}" for n in self.known() for b in built.index
                                      if set(self.images[n]) == set(self.images[b]))
            or "none of them is one of the rule-built backdoors",
            law_held_hits=hits, law_held_accuracy=count_text(hits, len(held)),
            law_majority=count_text(majority, len(built)),
            law_known_text="; ".join(place(n) for n in self.known()) or "none",
            **{f"law_{p}_{o.split()[1]}_text": rho_text(*self.correlations[p, o]) for p in PREDICTORS
               for o in OUTCOMES},
            law_supported="its interval excludes 0" if low > 0 or high < 0 else
            "its interval includes 0: no law is shown" if np.isfinite(low) else "without an interval, no law is shown")



def extent(count: int, total: int) -> str:
    """How much of the map ``count`` of its ``total`` settings is: "everywhere on the map" ... "nowhere"."""
    return ("everywhere on the map" if count == total else "in most of the map" if count >= total / 2 else
            "in part of the map" if count >= total / 4 else
            "only in a small part of the map" if count > 0 else "nowhere on the map")


def verdict(v: dict, law_rho: float, tensor: str = "fc2.bias") -> str:
    """Chapter 4's verdict from the values it glued (``v``, by glue name; ``law_rho``: the law's correlation,
    whose sign says whether the lead falls or rises with the predictor): the three readings of the claim
    on the map, the paper's procedure, the strong attacks and the law, each sentence at most 40 words and
    opening with a capital, where the built page's check (book/_ext/rendered_text.py) ends a sentence."""
    n, rounds = v["num_settings"], v["paper_rounds"]
    largest, settled = v["ratio_bias_first_count"], v["settled_count"]
    paper = f"the most separating tensor is {v['paper_best_tensor']}"
    if rounds > 1:  # an interval over the rounds needs two of them
        paper += f" (z {v['paper_best_text']} over its rounds" + (
            ")" if v["paper_best_tensor"] == tensor else f", {tensor} {v['paper_bias_text']})")
    strong = f"Stronger attacks ({v['strong_short']}; x: model replacement) make the backdoor take hold in "
    if v["held_strong_count"]:
        strong += (f"{v['held_strong_count']} of {v['strong_settings_count']} settings. There {tensor} is largest "
                   f"by the ratio from the median in {v['held_strong_bias_median_count']} and most detectable by z "
                   f"in {v['held_strong_bias_z_count']}.")
    else:
        strong += f"none of {v['strong_settings_count']} settings."
    law = (f"Over {v['law_count']} rule-built semantic backdoors ({v['law_seed_count']} seeds, one regime, "
           f"r = {v['law_r']}), ")
    if v["law_supported"] == "its interval excludes 0":
        rules = len(v["law_rules_text"].split(", "))
        law += (f"{tensor}'s z lead {'falls' if law_rho < 0 else 'rises'} with the backdoor's "
                f"{v['law_best'].replace('_', ' ')} before any attack (Spearman {v['law_best_text']}). Each rule's "
                f"backdoors, predicted from the other rules', rank with their measured leads at "
                f"{v['law_held_text']}. Inside a single rule the correlation's interval excludes 0 in "
                f"{v['law_within_count']} of {rules} rules.")
    else:
        law += f"no predictor explains where the anomaly sits ({v['law_best_text']})."
    return (f"The claim that the anomaly concentrates in the output-layer bias depends on what is asked of it. "
            f"Where the anomaly is largest, by the paper's malicious/benign ratio, the claim holds "
            f"{extent(largest, n)}. By that ratio {tensor} has the largest anomaly in {largest} of {n} settings, and "
            f"by the ratio from the median, which has no ceiling, in {v['median_bias_first_count']}. The anomaly is "
            f"present in {tensor}, the attacker beyond z > 3 there, in {v['present_count']} of {n} settings. "
            f"Where it is most detectable, by the robust z-score, the seeds settle the claim {extent(settled, n)}. "
            f"On the mean over seeds {tensor} sets the attacker apart most in {v['bias_first_count']} of {n} "
            f"settings. By a margin the seeds settle, it does in {settled}; "
            f"another tensor does in {v['settled_other_count']}, and the seeds settle no lead in "
            f"{v['unsettled_count']}. In the paper's procedure at full scale (one seed, {plural(rounds, 'round')}) "
            f"{paper}. {strong} {law}")


def findings(v: dict) -> dict:
    """Chapter 4's findings table (label -> value) from the values it glued (``v``, by glue name)."""
    n = v["num_settings"]
    return {
        "runs": v["num_runs"],
        "settings with a settled fc2.bias lead (95% interval over seeds above 0)": f"{v['settled_count']} of {n}",
        "settled fc2.bias leads, by local steps": v["settled_by_steps"],
        "settings another tensor leads by a settled margin": v["settled_other_count"],
        "settings the seeds do not settle": v["unsettled_count"],
        "settings where the anomaly is present in fc2.bias (mean z > 3)": f"{v['present_count']} of {n}",
        "settings where fc2.bias has the largest paper's ratio (mean over seeds)":
            f"{v['ratio_bias_first_count']} of {n}",
        "the same, by backdoor": v["ratio_by_backdoor"],
        "runs where fc2.bias has the largest paper's ratio": f"{v['ratio_bias_led_runs']} of {v['map_runs']}",
        "settings with fc2.bias's ratio within 1% of its ceiling (clients - 1)":
            f"{v['ceiling_count']} (ceiling {v['ratio_ceiling']})",
        "settings where fc2.bias has the largest ratio from the median": f"{v['median_bias_first_count']} of {n}",
        "settings where the ratio and the z-score name different tensors": v["disagree_count"],
        "settings fc2.bias leads on the mean over seeds": f"{v['bias_first_count']} of {n}",
        "tensors leading elsewhere (mean over seeds)": v["other_tensors"],
        "settings whose single seeds disagree on whether fc2.bias leads": v["split_count"],
        "settings in which every tensor has ROC-AUC >= 0.95": v["everything_count"],
        "settings in which the backdoor took hold": v["held_count"],
        "strong attacks: settings in which the backdoor took hold":
            f"{v['held_strong_count']} of {v['strong_settings_count']}",
        "strong attacks, held: fc2.bias largest by the ratio from the median (its seeds)":
            f"{v['held_strong_bias_median_count']} ({v['held_strong_bias_median_seeds']})",
        "strong attacks, held: fc2.bias largest by z (its seeds)":
            f"{v['held_strong_bias_z_count']} ({v['held_strong_bias_z_seeds']})",
        "strong attacks, held: the map's leader kept (median ratio; z)":
            f"{v['held_strong_kept_median']}; {v['held_strong_kept_z']}",
        "model replacement: the map's leader kept (median ratio; z)":
            f"{v['scaled_kept_median']} and {v['scaled_kept_z']} of {v['scaled_count']}",
        "paper's procedure: rounds with the attacker on top in fc2.bias": v["paper_top"],
        "reference CIFAR-10 run (quoted): the same rounds": v["quoted_top"],
        "paper's procedure: most separating tensor": v["paper_best_tensor"],
        "paper's procedure: its z over the rounds; fc2.bias's": f"{v['paper_best_text']}; {v['paper_bias_text']}",
        "law: rule-built backdoors x seeds": f"{v['law_count']} x {v['law_seed_count']}",
        "law: best predictor of fc2.bias's z lead (Spearman, 95% bootstrap interval)":
            f"{v['law_best']}: {v['law_best_text']}",
        "law: held-out rules, predicted vs measured z lead (Spearman)": v["law_held_text"],
        "law: held-out rules, 'fc2.bias has the largest ratio' predicted right": v["law_held_accuracy"],
        "law: the best predictor inside each rule (Spearman)": v["law_within_text"],
    }
