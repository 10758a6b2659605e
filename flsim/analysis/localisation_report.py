"""Chapter 3's tables and values for the run it takes apart: its setting and cost in words, the run's
accuracy, which client deviates most in each tensor, the attacker's ratio, its output-bias shift class
by class, the tensors' ROC-AUCs, the attacker's rank round by round, and the reference notebook's
logged run beside it.

Each function returns what the chapter shows (a table) and the values its text glues (a dict, glue
name -> value), so the chapter builds no table and no sentence itself. Across the chapter's runs
(the other seeds, the contrast attack, the other side of chapter 4's law, a deeper model) and the
verdict: :mod:`flsim.analysis.localisation_verdict`.
"""

from __future__ import annotations

import pandas as pd

from ..attacks import poison_positions, semantic_set_name
from ..reference import OUTPUT_BIAS_MAX, reference_rounds
from ..semantic import set_words
from . import federated_setup
from .bias import class_shift
from .regimes import regime
from .statistics import auc_interval, auc_standard_error, wilson_interval
from .sweeps import sweep_ratio
from .tensors import attacker_ranks, auc_table, layer_summary
from .words import attackers_text, dataset_words, interval_columns, interval_text, round_ranges


def counted(n: int, noun: str) -> str:
    """A generated count as a reader writes it: "1 round", "1,091 samples"."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


def chapter_configs(config, seeds, contrast_attack: str = "", other_set: str = "",
                    deeper_model: str = "") -> dict[str, list]:
    """The chapter's runs by role: "runs", ``config`` on each seed and, unless ``contrast_attack`` is
    empty, that attack on each seed; "other", the named semantic set ``other_set`` on each seed (plain
    runs, each keeping its own images out of the honest pool as the default runs do); "deeper", the
    model ``deeper_model`` on each seed. An empty name leaves its group empty."""
    runs = [config.replace(seed=seed) for seed in seeds]
    runs += [config.replace(attack=contrast_attack, seed=seed) for seed in seeds] if contrast_attack else []
    return dict(runs=runs,
                other=[config.replace(semantic_set=other_set, seed=seed) for seed in seeds] if other_set else [],
                deeper=[config.replace(model=deeper_model, seed=seed) for seed in seeds] if deeper_model else [])


def split_runs(results: list, groups: dict[str, list]) -> list[list]:
    """``results`` of every config of ``groups`` (in their order, as ``flsim.sweep`` returns them), cut
    back into one list per group."""
    parts, start = [], 0
    for configs in groups.values():
        parts.append(list(results[start:start + len(configs)]))
        start += len(configs)
    return parts


def _contrasts(config, seeds, contrast_attack: str, other_set: str, deeper_model: str, dataset: str) -> str:
    parts = [f"the same setting with seed{'s' if len(seeds) > 2 else ''} "
             f"{', '.join(map(str, seeds[1:]))}"] if len(seeds) > 1 else []
    parts += [f"on the same seeds, the {contrast_attack} backdoor instead of the "
              f"{config.attack} one"] if contrast_attack else []
    default_set = semantic_set_name(dataset, config.semantic_set)
    parts += [f"on the same seeds, the {set_words(other_set)} instead of the "
              f"{set_words(default_set)} (the other side of chapter 4's axis)"] if other_set else []
    parts += [f"in its last section, the same seeds with a deeper model ({deeper_model}, with "
              "BatchNorm) instead of the paper's CNN"] if deeper_model else []
    return "; ".join(parts) or "no other run"


def localisation_settings(config, federation, seeds, contrast_attack: str = "", other_set: str = "",
                          deeper_model: str = "") -> dict:
    """The setting the chapter's plan states, from its ``config`` and the federation ``flsim.setup``
    builds from it: the data, clients, attackers, local training and poison in words, a client's
    samples and local SGD steps, the fc1 weight's entries, the other runs in words and where the run
    sits on chapter 4's map."""
    n = len(federation.clean_data[0][1])  # a client's samples (samples_per_client None: the whole deal)
    positions = poison_positions(n, config.num_malicious, config.malicious_data_rate)
    return dict(
        dataset_name=dataset_words(federation.dataset.name), attackers_text=attackers_text(config.num_malicious),
        clients_text=counted(config.num_clients, "client"),
        epochs_text=counted(config.local_epochs, "local epoch"), lr_text=f"{config.lr:g}",
        batch_size=config.batch_size,
        poison_positions_text=", ".join(str(int(p)) for p in sorted(positions)[:3]) + ", ...",
        fc1_entries=f"{federation.trainer.model.fc1.weight.numel():,}", samples=n,
        local_steps=config.local_epochs * -(-n // config.batch_size),  # batches per epoch, rounded up
        num_poisoned=len(positions), num_rounds_text=counted(config.num_rounds, "round"),
        num_chosen=config.num_chosen,
        contrast_runs_text=_contrasts(config, seeds, contrast_attack, other_set, deeper_model,
                                      federation.dataset.name),
        regime=regime(config))


def localisation_cost(federation, runs: list) -> dict:
    """What the chapter's ``runs`` (all of them) cost: the seconds they took when they were computed,
    their number, and the work of one run (every run has the first one's sizes) in words."""
    config = federation.config
    n = len(federation.clean_data[0][1])
    server = len(federation.server_data[1])
    test = len(federation.test[1])
    backdoor = len(federation.backdoor_test[1]) if federation.backdoor_test else 0
    passes = (config.num_rounds * config.num_chosen * n + server) * config.local_epochs
    models = len(runs[0].rounds)  # the pre-trained model and one per round
    work = (f"Each run trains {passes:,} sample-passes ({counted(config.num_rounds, 'round')} x "
            f"{counted(config.num_chosen, 'client')} x {counted(n, 'sample')} x "
            f"{counted(config.local_epochs, 'epoch')}, and the server's pre-training on "
            f"{counted(server, 'sample')}) and evaluates {counted(models, 'model')} on "
            f"{counted(test, 'test image')} and {counted(backdoor, 'backdoor image')}; "
            f"the chapter's {counted(len(runs), 'run')} train {len(runs) * passes:,} "
            f"sample-passes and evaluate {len(runs) * models * (test + backdoor):,} images in all")
    seconds = sum(r.rounds.seconds.sum() for r in runs)  # when each run was computed
    return dict(compute_seconds=float(seconds), num_runs=len(runs), test_images=f"{test:,}", work_text=work)


def accuracy_values(results, test_images: int) -> dict:
    """The run's main accuracy after its last round, with its 95% Wilson interval over ``test_images``,
    its highest backdoor accuracy and whether the backdoor took hold (50% in some round)."""
    accuracy = float(results.rounds.main_accuracy.iloc[-1])
    top = results.rounds.backdoor_accuracy.max()
    return dict(main_accuracy=accuracy, main_accuracy_text=interval_text(
                    accuracy, *wilson_interval(round(accuracy * test_images), test_images), ".1%"),
                backdoor_accuracy_max=float(top),
                backdoor_held="the backdoor took hold" if top >= 0.5 else "the backdoor has not taken hold")


def brightest(updates: pd.DataFrame, statistic: str = "max_abs_deviation") -> tuple[pd.DataFrame, dict]:
    """Per tensor, the client-round with the run's largest ``statistic`` (round, client, whether it is
    an attacker), and how many of these belong to an honest client (honest_brightest of num_tensors)."""
    largest = updates.loc[updates.groupby("layer", sort=False)[statistic].idxmax()]
    return (largest[["layer", "round", "client", "malicious"]].set_index("layer"),
            dict(honest_brightest=int((~largest.malicious).sum()), num_tensors=len(largest)))


def ratio_values(results, summary: pd.DataFrame) -> dict:
    """The output bias's malicious/benign ratio (``summary``: :func:`~flsim.analysis.layer_summary` of the run) with its
    95% bootstrap interval over the run's rounds, its rank among the tensors, and the tensor with the
    largest ratio, likewise."""
    tensor = results.output_bias_tensor
    ratios = summary.set_index("layer").ratio
    ci = sweep_ratio([results], "seed").droplevel(0)  # as chapters 5-7 give the same run's
    top = str(ratios.idxmax())
    text = {layer: interval_text(ratios[layer], ci.lo[layer], ci.hi[layer]) for layer in (tensor, top)}
    return dict(intro_bias_ratio=float(ratios[tensor]),
                bias_ratio_rank=int(ratios.rank(ascending=False, method="min")[tensor]),
                top_ratio_layer=top, top_ratio=float(ratios.max()), bias_ratio_text=text[tensor],
                top_ratio_text=text[top])


SHIFT_COLUMNS = {"malicious_mean": "attacker mean", "benign_sd": "honest sd", "pooled_z": "pooled z",
                 "pooled_z_lo": "z low", "pooled_z_hi": "z high", "positive_share": "share up"}


def _moved(shift: pd.DataFrame, target, source) -> str:
    # classes other than the backdoor's two that move at least as far (in |z|) as the less moved of them
    others = int((shift.pooled_z.abs().drop([target.name, source.name])
                  >= min(abs(target.pooled_z), abs(source.pooled_z))).sum())
    moves = {0: "no other class moves", 1: "one other class moves"}.get(others, f"{others} other classes move")
    return (f"{moves} at least as far, so the backdoor's two classes are among the classes that move, "
            "not singled out" if others else f"{moves} as far, so the backdoor's two classes are singled out")


def class_shift_values(results, federation) -> tuple[pd.DataFrame, dict]:
    """The attacker's output-bias shift class by class (:func:`flsim.analysis.class_shift` of the run
    ``results``), as the chapter shows it (rows: the class names; rounded, without "-0.00"), and the
    values its text glues: the shifts and shares of rounds of the target class and of the source class
    (what the backdoor images of ``federation``, the run's set-up, show), the class that moves most,
    whether the two move the way chapter 1's theory predicts, and whether they are singled out."""
    classes, target_class = federation.dataset.classes, results.config.target_class
    source_class = federated_setup.source_class(federation.dataset, federation.backdoor)
    shift = class_shift(results.output_bias)
    shift.index = [classes[c] for c in shift["class"]]
    target, source = shift.iloc[target_class], shift.iloc[source_class]
    strongest = shift.pooled_z.abs().idxmax()
    z = interval_columns(shift, {"pooled_z": ("pooled_z", "+.2f"), "round_z": ("round_z", "+.2f")})
    values = dict(
        target_name=target.name, source_name=source.name, target_mean=float(target.malicious_mean),
        target_z=float(target.pooled_z), target_z_text=z.pooled_z[target.name],
        target_round_z=float(target.round_z), target_round_z_text=z.round_z[target.name],
        target_up_share=float(target.positive_share),
        source_z=float(source.pooled_z), source_z_text=z.pooled_z[source.name],
        source_down_share=float(1 - source.positive_share),
        benign_sd_target=float(target.benign_sd), max_abs_z_class=strongest,
        max_abs_z=float(shift.pooled_z[strongest]), max_abs_z_text=z.pooled_z[strongest],
        direction=("the direction the theory predicts" if target.malicious_mean > 0 > source.malicious_mean
                   else "not the direction the theory predicts"),
        spread=("about the honest clients' own spread, so no single round's value gives the attacker away"
                if abs(target.pooled_z) < 2 else "well beyond the honest clients' own spread"),
        singled_out=_moved(shift, target, source))
    table = shift[list(SHIFT_COLUMNS)].rename(columns=SHIFT_COLUMNS)  # + 0.0: no "-0.00" after rounding
    table = table.round({"pooled z": 2, "z low": 2, "z high": 2, "share up": 2}).round(5) + 0.0
    return table, values


def auc_values(results) -> tuple[pd.DataFrame, dict]:
    """The ROC-AUC per tensor (rows) and statistic (columns, :func:`flsim.analysis.auc_table`), and the
    values the text glues: the output bias's AUC (with its 95% Hanley-McNeil interval, by the paper's
    statistic and by L2) and rank, the best tensor's, the client-rounds behind them and the AUC's
    standard error."""
    tensor = results.output_bias_tensor
    aucs = auc_table(results.updates)
    auc = aucs.max_abs_deviation
    malicious = results.updates[results.updates.layer == tensor].malicious
    positives, negatives = int(malicious.sum()), int((~malicious).sum())
    se = auc_standard_error(auc[tensor], positives, negatives)
    text = {name: interval_text(value, *auc_interval(value, positives, negatives))
            for name, value in {"bias_auc_text": auc[tensor], "best_auc_text": auc.max(),
                                "bias_auc_l2_text": aucs.l2_deviation[tensor]}.items()}
    return aucs, dict(**text, bias_auc=float(auc[tensor]), bias_auc_l2=float(aucs.l2_deviation[tensor]),
                      bias_auc_rank=int(auc.rank(ascending=False, method="min")[tensor]),
                      best_auc_layer=str(auc.idxmax()), best_auc=float(auc.max()),
                      auc_positives=positives, auc_negatives=negatives, bias_auc_se=se, auc_two_se=2 * se)


def rank_values(results) -> tuple[pd.DataFrame, dict]:
    """The attacker's rank among each round's clients (:func:`flsim.analysis.attacker_ranks`) in the
    output bias, in the tensor with the best AUC and in the one with the largest ratio (the columns
    shown), and the values the text glues: the rounds in which it is the top client in the output bias
    (as a reader writes them, and how many), its median rank there, and its top rounds in the best
    tensor."""
    tensor = results.output_bias_tensor
    summary = layer_summary(results.updates, "max_abs_deviation").set_index("layer")
    best_auc, top_ratio = summary.auc.idxmax(), summary.ratio.idxmax()
    ranks = attacker_ranks(results.updates, "max_abs_deviation")
    top_rounds = ranks.index[ranks[tensor] == 1].tolist()
    best_top = int((ranks[best_auc] == 1).sum())
    values = dict(bias_top_rounds=round_ranges(top_rounds), bias_top_count=len(top_rounds),
                  attacked_rounds=len(ranks), bias_median_rank=float(ranks[tensor].median()),
                  best_layer_top_count=best_top, best_layer_top_text=counted(best_top, "round"))
    return ranks[list(dict.fromkeys([tensor, best_auc, top_ratio]))], values


def reference_values() -> dict:
    """The reference notebook's logged run (:func:`flsim.reference.reference_rounds`): in which rounds
    its attacker had the largest output-bias statistic, its streak from round 1, and how many of the
    later rounds it topped against what chance (1 in its clients) would give."""
    reference = reference_rounds()
    on_top = reference[reference.attacker_rank == 1]["round"]
    streak = int((reference.attacker_rank == 1).cumprod().sum())  # rounds on top from round 1 on
    later = len(reference) - streak
    return dict(ref_rounds=len(reference), ref_top_count=len(on_top), ref_top_rounds=round_ranges(on_top),
                ref_streak=streak, ref_later_top=len(on_top) - streak, ref_later_rounds=later,
                ref_later_chance=later / len(OUTPUT_BIAS_MAX[0]))
