"""Chapter 4's run of the paper's procedure at full scale, beside the reference notebook's own CIFAR-10 run
as it printed it (:mod:`flsim.reference`, quoted, not computed): per round the accuracies, the attacker's
output-bias statistic over the honest clients' mean and its rank, and the values the chapter cites."""

from __future__ import annotations

import pandas as pd

from ..reference import OUTPUT_BIAS_MAX, reference_rounds
from .regimes import round_intervals
from .statistics import auc_interval, ratio_interval
from .tensors import attacker_ranks, layer_summary
from .words import interval_text

COLUMNS = {"main_accuracy": "test accuracy", "backdoor_accuracy": "backdoor accuracy",
           "ratio": "attacker / honest mean", "attacker_rank": "attacker's rank"}
SHORT = {"test accuracy": "test acc.", "backdoor accuracy": "backdoor acc.",
         "attacker / honest mean": "attacker / honest", "attacker's rank": "rank"}


class PaperRun:
    """One run of the paper's procedure (``results``: every round analysed), read in ``tensor``, beside the
    reference run's first rounds (as many as the run has)."""

    def __init__(self, results, tensor: str = "fc2.bias"):
        self.results, self.tensor, self.rounds = results, tensor, results.config.num_rounds
        updates = results.updates
        self.bias = bias = updates[updates.layer == tensor]
        honest = bias[~bias.malicious].groupby("round").max_abs_deviation.mean()
        attacker = bias[bias.malicious].groupby("round").max_abs_deviation.mean()
        self.ranks = attacker_ranks(updates)[tensor]
        self.per_round = results.rounds.set_index("round").iloc[1:]  # round 0 is the server's pre-training
        self.ours = pd.DataFrame({"test accuracy": self.per_round.main_accuracy,
                                  "backdoor accuracy": self.per_round.backdoor_accuracy,
                                  "attacker / honest mean": attacker / honest, "attacker's rank": self.ranks})
        self.quoted = reference_rounds().set_index("round").iloc[:self.rounds]

    def table(self) -> pd.DataFrame:
        """Per round, each measure of this run (``book``) beside the reference run's (``ref.``)."""
        ours = self.ours
        side = pd.concat({"book": ours, "ref.": self.quoted.rename(columns=COLUMNS)[ours.columns]}, axis=1)
        side = side.swaplevel(axis=1)[list(ours.columns)]  # each measure's two runs side by side
        return side.rename(columns=SHORT, level=0)

    def words(self) -> dict:
        """The values the chapter's text cites, by glue name."""
        bias, ours, per_round, tensor = self.bias, self.ours, self.per_round, self.tensor
        top = self.ranks.index[self.ranks == 1].tolist()
        quoted_top = self.quoted.index[self.quoted.attacker_rank == 1].tolist()
        summary = layer_summary(self.results.updates).set_index("layer")
        z_rounds = round_intervals(self.results.updates)  # attacker_z, low, high over the rounds
        held_round = per_round.index[per_round.backdoor_accuracy >= 0.5]
        first = bias[bias["round"] == per_round.index[0]]  # round 1's ratio, bootstrapped over its clients
        ratio_first = ratio_interval(first[first.malicious].max_abs_deviation,
                                     first[~first.malicious].max_abs_deviation)
        quoted_first = OUTPUT_BIAS_MAX[0]  # the reference's round 1, its attacker first
        auc = summary.auc[tensor]
        auc_low, auc_high = auc_interval(auc, int(bias.malicious.sum()), int((~bias.malicious).sum()))
        best = z_rounds.attacker_z.idxmax()

        def z_text(layer):
            return interval_text(*z_rounds.loc[layer, ["attacker_z", "low", "high"]], ".1f")

        return dict(
            paper_acc_first=float(ours["test accuracy"].iloc[0]), paper_acc_last=float(ours["test accuracy"].iloc[-1]),
            paper_backdoor_last=float(ours["backdoor accuracy"].iloc[-1]),
            paper_held=f"from round {held_round[0]}" if len(held_round) else "in no round",
            paper_top_count=len(top), paper_top=", ".join(map(str, top)) or "none",
            paper_top_text=f"round{'s' * (len(top) > 1)} {', '.join(map(str, top))}" if top else "none",
            paper_ratio_first=ratio_first[0], paper_ratio_text=interval_text(*ratio_first),
            quoted_top=", ".join(map(str, quoted_top)), quoted_ratio_first=float(self.quoted.ratio.iloc[0]),
            quoted_ratio_text=interval_text(*ratio_interval(quoted_first[:1], quoted_first[1:])),
            paper_best_tensor=str(best), paper_best_z=float(z_rounds.attacker_z[best]), paper_best_text=z_text(best),
            paper_bias_z=float(z_rounds.attacker_z[tensor]), paper_bias_text=z_text(tensor),
            paper_bias_auc=float(auc),
            paper_auc_text=interval_text(auc, auc_low, auc_high)
            + (", Hanley and McNeil's interval" if auc_high > auc_low else  # none at a perfect AUC
               ": every attacker round above every honest one, where Hanley and McNeil's interval "
               "has no width and says nothing of another seed"))
