"""Statistics the chapters' tables are built from: ROC-AUC and its intervals, rates and their Wilson
intervals, means over seeds with Student-t intervals, percentile bootstraps, rank correlations, power
laws and thresholds at a false-positive rate.

Taken from scipy wherever it has them: the ROC-AUC is scipy's Mann-Whitney U
(:func:`~flsim.analysis.roc_auc`), Wilson's interval scipy's ``binomtest(...).proportion_ci``
(:func:`~flsim.analysis.wilson_interval`), the t quantile ``scipy.stats.t``
(:func:`~flsim.analysis.t_quantile`), Spearman's correlation ``scipy.stats.spearmanr``
(:func:`~flsim.analysis.spearman`) and the bootstrap of a mean ``scipy.stats.bootstrap``
(:func:`~flsim.analysis.bootstrap_mean`).
What flsim writes itself (the AUC's standard error and score interval, the cluster bootstrap of an AUC,
bootstraps that scipy's cannot express) says why in its docstring and is tested against known answers.
"""

from __future__ import annotations

import math
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy import stats


def roc_auc(scores, malicious) -> float:
    """ROC-AUC of ``scores`` for telling malicious (True) from benign rows: 1.0 is perfect, 0.5 is chance.
    NaN when either group is empty or a score is NaN.

    scipy's Mann-Whitney U of the malicious scores against the benign (average ranks for ties) over
    the number of pairs, which is scikit-learn's ``roc_auc_score`` up to float rounding. Not that
    function itself: its area is a sum of trapezoids, rounded at every step, so two tensors with the
    same AUC can get values an ulp apart (3 attackers among 12 clients: 0.6296296296296295 and
    0.6296296296296297), and the chapters rank tensors by AUC with ties shared; U is exact, and its
    one division gives equal AUCs equal values.
    """
    scores = np.asarray(scores, dtype=float)
    malicious = np.asarray(malicious, dtype=bool)
    positives, negatives = int(malicious.sum()), int((~malicious).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    u = stats.mannwhitneyu(scores[malicious], scores[~malicious], method="asymptotic").statistic
    return float(u / (positives * negatives))


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of a ROC-AUC from ``positives`` malicious and
    ``negatives`` benign rows (chapter 3).

    It assumes independent rows; one client's rounds are not independent, so
    read it as a lower bound on the uncertainty. Neither scipy nor scikit-learn has it.
    """
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2))
    return float(np.sqrt(variance / (positives * negatives)))


def auc_interval(auc: float, positives: int, negatives: int, level: float = 0.95) -> tuple[float, float]:
    """A normal interval at ``level`` around a ROC-AUC from :func:`auc_standard_error`, cut to [0, 1]
    (chapter 4). It inherits that error's assumption of independent rows: a lower bound on the width."""
    half = NormalDist().inv_cdf((1 + level) / 2) * auc_standard_error(auc, positives, negatives)
    return max(0.0, auc - half), min(1.0, auc + half)


def auc_score_interval(auc: float, positives: int, negatives: int, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's (2006, method 5) score interval at ``level`` for a ROC-AUC from ``positives`` attacker and
    ``negatives`` honest rows (chapters 8 and 9): Hanley and McNeil's variance, taken at the bound rather
    than at the AUC and with (positives + negatives) / 2 - 1 for both group sizes, inverted as Wilson's
    interval inverts the binomial's. Unlike a normal interval it keeps a width at an AUC of 1 (4
    attackers above 16 honest clients: [0.71, 1]). It treats the rows as independent. NaN without
    both groups. Neither scipy nor scikit-learn has an interval for an AUC."""
    if positives == 0 or negatives == 0 or np.isnan(auc):
        return float("nan"), float("nan")
    z2, pairs = NormalDist().inv_cdf((1 + level) / 2) ** 2, (positives + negatives) / 2 - 1

    def excess(theta: float) -> float:  # negative inside the interval
        variance = theta * (1 - theta) / (positives * negatives) * (
            1 + pairs * ((1 - theta) / (2 - theta) + theta / (1 + theta)))
        return (auc - theta) ** 2 - z2 * variance

    def root(inside: float, outside: float) -> float:
        if excess(outside) <= 0:
            return outside
        for _ in range(60):
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if excess(middle) <= 0 else (inside, middle)
        return (inside + outside) / 2
    return root(auc, 0.0), root(auc, 1.0)


def auc_bootstrap_interval(scores, malicious, clusters, level: float = 0.95, resamples: int = 2000,
                           seed: int = 0) -> tuple[float, float]:
    """A percentile interval at ``level`` for :func:`roc_auc`, from ``resamples`` draws of whole clusters
    with replacement (chapters 8 and 9): a cluster is a run's round, whose honest clients share the mean
    the detectors measure from, so the draws keep that dependence (not the weaker one between a run's
    rounds). Widened to hold the AUC itself if it falls outside; seeded. NaN without both groups.

    Not ``scipy.stats.bootstrap``, which resamples single observations: here a draw weighs each
    cluster by how often it is drawn (a multinomial count), the whole cluster at once."""
    scores, malicious = np.asarray(scores, dtype=float), np.asarray(malicious, dtype=bool)
    if malicious.all() or not malicious.any():
        return float("nan"), float("nan")
    codes, labels = pd.factorize(np.asarray(clusters))
    positive, negative = scores[malicious], scores[~malicious]
    wins = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    drawn = np.random.default_rng(seed).multinomial(len(labels), np.full(len(labels), 1 / len(labels)),
                                                    size=resamples).astype(float)
    weights_pos, weights_neg = drawn[:, codes[malicious]], drawn[:, codes[~malicious]]
    with np.errstate(invalid="ignore", divide="ignore"):  # a draw without attackers has no AUC
        aucs = ((weights_pos @ wins) * weights_neg).sum(1) / (weights_pos.sum(1) * weights_neg.sum(1))
    lo, hi = np.percentile(aucs[np.isfinite(aucs)], [50 * (1 - level), 50 * (1 + level)])
    auc = roc_auc(scores, malicious)
    return float(min(lo, auc)), float(max(hi, auc))


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval at ``level`` for a rate of ``successes`` in ``trials`` (chapters 8 and 9):
    scipy's ``binomtest(successes, trials).proportion_ci(level, method="wilson")``.

    Unlike the normal interval it stays inside [0, 1] and keeps a width at 0 or ``trials`` of
    ``trials`` (0 of 36 flagged: [0, 0.096]). It treats the trials as independent; a run's
    client-rounds are not quite, so read it as a lower bound on the uncertainty. NaN without trials.
    """
    if trials == 0:
        return float("nan"), float("nan")
    interval = stats.binomtest(int(successes), int(trials)).proportion_ci(level, method="wilson")
    return float(interval.low), float(interval.high)


def t_quantile(probability: float, df: int) -> float:
    """Student's t quantile for ``probability`` and ``df`` degrees of freedom (chapter 4): ``scipy.stats.t``."""
    return float(stats.t.ppf(probability, df))


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """The mean of independent replicates (seeds) and its Student-t interval at ``level`` (chapter 4):
    (mean, low, high). NaN values are dropped; with fewer than two there is no interval (NaN bounds).

    mean +- :func:`t_quantile` x sd / sqrt(n) rather than ``scipy.stats.t.interval``, which gives NaN
    where the seeds agree exactly (sd 0, e.g. an AUC of 1 in every seed) instead of [mean, mean]."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = t_quantile((1 + level) / 2, len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def bootstrap_mean(values, level: float = 0.95, draws: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The mean of ``values`` (e.g. one per seed) and its percentile bootstrap interval at ``level``
    (chapter 10): (mean, low, high), ``scipy.stats.bootstrap`` with ``draws`` resamples from
    ``numpy.random.default_rng(seed)``. Unlike a Student-t interval it stays within the values' range (a
    share cannot pass 100%). NaN values are dropped; with fewer than two there is no interval (NaN
    bounds). Seeded."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    with warnings.catch_warnings():  # values all alike: a degenerate but valid interval, [mean, mean]
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        interval = stats.bootstrap((values,), np.mean, n_resamples=draws, confidence_level=level,
                                   method="percentile", rng=np.random.default_rng(seed)).confidence_interval
    # scipy interpolates as (1 - g) x + g y, which can round an ulp past equal neighbours: keep the range
    low, high = np.clip([interval.low, interval.high], values.min(), values.max())
    return mean, float(low), float(high)


def ratio_interval(malicious, benign, level: float = 0.95, draws: int = 2000,
                   seed: int = 0) -> tuple[float, float, float]:
    """The ratio of the mean malicious to the mean benign value, with a bootstrap interval at ``level``
    (ratio, low, high): each draw resamples both groups' values with replacement (chapter 4: one round's
    attacker against the honest clients of its round). Seeded: the same values give the same interval.

    Not ``scipy.stats.bootstrap``, which refuses a group of one value: chapter 4's rounds have one
    attacker."""
    malicious, benign = np.asarray(malicious, dtype=float), np.asarray(benign, dtype=float)
    rng = np.random.default_rng(seed)
    drawn = (rng.choice(malicious, (draws, len(malicious))).mean(axis=1)
             / rng.choice(benign, (draws, len(benign))).mean(axis=1))
    tail = 100 * (1 - level) / 2
    return (float(malicious.mean() / benign.mean()), float(np.percentile(drawn, tail)),
            float(np.percentile(drawn, 100 - tail)))


def spearman(a, b) -> float:
    """Spearman's rank correlation of two aligned sequences: ``scipy.stats.spearmanr``'s (average ranks
    for ties). Two pandas Series are aligned on their index first, as pandas' ``corr`` aligns them; pairs
    with a NaN are left out. NaN with fewer than two pairs or where either side is constant."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        a, b = a.align(b, join="inner")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    kept = ~(np.isnan(a) | np.isnan(b))
    a, b = a[kept], b[kept]
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def rank_correlation(a: pd.Series, b: pd.Series, level: float = 0.95) -> tuple[float, float, float]:
    """:func:`spearman` of two aligned series and its interval at ``level`` (chapter 3: two seeds' AUCs per
    tensor): Fisher's z with Fieller, Hartley and Pearson's standard error sqrt(1.06 / (n - 3)), which
    scipy does not offer for Spearman's correlation. (rho, low, high); NaN bounds with fewer than four
    pairs."""
    rho = spearman(a, b)
    n = len(a)
    if n < 4 or not np.isfinite(rho):
        return rho, float("nan"), float("nan")
    half = NormalDist().inv_cdf((1 + level) / 2) * math.sqrt(1.06 / (n - 3))
    centre = math.atanh(min(max(rho, -0.999999), 0.999999))
    return rho, math.tanh(centre - half), math.tanh(centre + half)


def bootstrap_rank_correlation(a, b, level: float = 0.95, resamples: int = 2000,
                               seed: int = 0) -> tuple[float, float, float]:
    """:func:`spearman` of two aligned sequences with a percentile bootstrap interval at ``level`` over
    their pairs (chapter 4: predictor and outcome over backdoors): (rho, low, high). Resamples in which
    either side is constant are skipped; NaN bounds with fewer than four pairs. Seeded: the same values
    give the same interval.

    Not ``scipy.stats.bootstrap``: it cannot skip a resample (with few pairs and ties, some resamples
    are constant and have no correlation), and its draws would move every interval of chapter 4."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rho = spearman(a, b)
    if len(a) < 4 or not np.isfinite(rho):
        return rho, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.integers(0, len(a), len(a)) for _ in range(resamples)])  # the draws, all at once
    x, y = (stats.rankdata(v[picks], axis=1) for v in (a, b))
    x, y = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    spread = np.sqrt((x * x).sum(1) * (y * y).sum(1))
    varied = spread > 0  # a resample in which either side is constant has no correlation
    draws = (x * y).sum(1)[varied] / spread[varied]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return rho, float(min(low, rho)), float(max(high, rho))


def rank_trend(frame: pd.DataFrame, x: str, y: str, by: str = "seed", level: float = 0.95) -> dict:
    """Does ``y`` fall or rise with ``x``, and do the seeds agree (chapter 1)?

    :func:`spearman` of ``x`` and ``y`` within each group of rows ``by`` (a seed's
    runs); its mean over the groups with a Student-t interval at ``level`` (:func:`mean_interval`),
    cut to [-1, 1], where a mean of correlations lies. A group whose ``x`` takes fewer than two
    values, or whose ``y`` is constant, has none and is left out. Keys: rho, lo, hi (NaN with fewer
    than two groups), groups, negative and positive (the groups whose correlation is below or above
    0), falling (those in which ``y`` falls at every step of ``x``: a correlation of -1) and rising (+1).
    """
    rhos = []
    for _, group in frame.groupby(by):
        if group[x].nunique() >= 2 and group[y].nunique() >= 2:
            rhos.append(spearman(group[x], group[y]))
    rho, lo, hi = mean_interval(rhos, level)
    rhos = np.asarray(rhos)
    return dict(rho=rho, lo=float(np.clip(lo, -1, 1)), hi=float(np.clip(hi, -1, 1)), groups=len(rhos),
                negative=int((rhos < 0).sum()), positive=int((rhos > 0).sum()),
                falling=int(np.isclose(rhos, -1).sum()), rising=int(np.isclose(rhos, 1).sum()))


def power_law_exponent(x, y) -> float:
    """The slope of log y against log x by least squares: y ~ x^k gives k (chapters 6 and 7).

    NaN unless every x and y is positive and x takes at least two values.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not ((x > 0).all() and (y > 0).all()) or len(np.unique(x)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def score_threshold(benign, fpr: float = 0.05) -> float:
    """The score above which at most ``fpr`` of the ``benign`` scores lie (chapters 8 and 9): flagging
    scores strictly above it accuses at most that share of them. NaN without scores."""
    ordered = np.sort(np.asarray(benign, dtype=float))[::-1]
    if len(ordered) == 0:
        return float("nan")
    return float(ordered[min(int(np.floor(fpr * len(ordered))), len(ordered) - 1)])


def tpr_at_fpr(scores, malicious, fpr: float = 0.05) -> float:
    """Share of malicious rows scoring above the threshold that flags at most ``fpr`` of the benign rows."""
    scores, malicious = np.asarray(scores, dtype=float), np.asarray(malicious, dtype=bool)
    if not malicious.any() or malicious.all():
        return float("nan")
    return float((scores[malicious] > score_threshold(scores[~malicious], fpr)).mean())
