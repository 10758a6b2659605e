"""Families of semantic backdoors built by stated rules, and what the pre-trained model says of them
before any attack (chapter 4's law; chapter 1 states its prediction).

A family is ``size`` training images of one source class picked by a rule (``RULES``), given to
``Config(semantic_indices=...)``. :func:`backdoor_predictors` reads, from a federation's pre-trained
global model, the quantities chapter 1's gradient argument names: how sure the model is that the
images are not the target, how strongly they drive the output layer's input compared with clean
images, and how alike they are there. :func:`leave_one_group_out` and
:func:`flsim.analysis.bootstrap_rank_correlation` test which of them predicts where the anomaly sits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import data
from .analysis.bias import mean_overlap
from .analysis.statistics import bootstrap_rank_correlation, spearman  # noqa: F401 - chapter 4 calls the first here
from .attacks import SEMANTIC_SETS
from .config import DATASET_SHAPES, Config, ConfigError, require_int
from .federation import setup

RULES = ("least_ink", "most_ink", "random", "stripes")


def stripe_contrast(images: torch.Tensor) -> torch.Tensor:
    """Per image (N x C x H x W, in [0, 1]): the mean |x[r+1, c] - x[r, c]| over the vertically
    adjacent pixel pairs (r, c), (r+1, c) that both have ink (> 0), channels averaged first; 0 for an
    image without such a pair. Horizontal stripes inside a garment make it large, the garment's
    outline does not (a pair with one pixel in the background is not counted)."""
    x = images.float().mean(1)
    upper, lower = x[:, :-1, :], x[:, 1:, :]
    inside = (upper > 0) & (lower > 0)
    contrast = ((lower - upper).abs() * inside).sum((1, 2))
    return contrast / inside.sum((1, 2)).clamp(min=1)


def semantic_family(dataset: str, rule: str, source_class: int, size: int = 20, seed: int = 0,
                    target_class: int = 2) -> tuple[int, ...]:
    """Training-set indices (sorted) of ``size`` images of ``source_class`` chosen by ``rule``:

    - "least_ink" / "most_ink": the smallest / largest pixel sum (Fashion-MNIST's flat sandals are
      the sandals with the least ink);
    - "random": a draw without replacement, seeded by ``seed`` (other rules ignore it);
    - "stripes": the largest :func:`stripe_contrast`, row-to-row contrast inside the garment.

    Ties go to the lower index. ValueError for an unknown rule, a class the dataset lacks, the
    ``target_class`` itself (its images are the target already) or more images than the class has.
    """
    if not isinstance(dataset, str):
        raise ConfigError(f"dataset must be a dataset's name, e.g. 'fashion_mnist', got {dataset!r}")
    dataset = Config(dataset=dataset, attack="trigger").dataset  # its spellings ('fashion-mnist'), checked
    if rule not in RULES:
        raise ConfigError(f"rule={rule!r} is not allowed; choose one of {', '.join(map(repr, RULES))}")
    count = DATASET_SHAPES[dataset][1]
    target_class = require_int("target_class", target_class, 0, count - 1, f" (the classes of {dataset})")
    source_class = require_int("source_class", source_class, 0, count - 1, f" (the classes of {dataset})")
    size = require_int("size", size, 1)
    seed = require_int("seed", seed, 0)
    images = data.load(dataset)
    classes = [c for c in range(len(images.classes)) if c != target_class]
    if source_class not in classes:
        raise ConfigError(f"source_class={source_class!r} is not allowed; choose one of {classes} (the classes "
                         f"of {dataset} but the target class {target_class})")
    members = torch.nonzero(images.train_y == source_class).flatten()
    if not 1 <= size <= len(members):
        raise ConfigError(f"size={size!r} is not allowed; choose 1 to {len(members)} (the images of class "
                         f"{source_class})")
    if rule == "random":
        rng = np.random.default_rng(seed)
        chosen = members[torch.as_tensor(rng.choice(len(members), size, replace=False))]
    else:
        x = images.train_x[members]
        score = x.flatten(1).sum(1) if rule.endswith("ink") else stripe_contrast(x)
        if rule != "least_ink":
            score = -score
        order = np.lexsort((members.numpy(), score.double().numpy()))  # by score, ties by index
        chosen = members[torch.as_tensor(order[:size])]
    return tuple(sorted(int(i) for i in chosen))


@torch.no_grad()
def _output_inputs(trainer, weights: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The output layer's input activations (flattened) and the softmax of ``x`` under ``weights``."""
    trainer.load(weights)
    module = trainer.model.get_submodule(trainer.layers.output_layer)
    seen = []
    handle = module.register_forward_hook(lambda _m, inputs, _out: seen.append(inputs[0].detach()))
    try:
        probabilities = torch.softmax(trainer.model(x), 1)
    finally:
        handle.remove()
    return seen[0].flatten(1).float(), probabilities


def backdoor_predictors(federation, indices, target_class: int | None = None) -> dict[str, float]:
    """What the pre-trained global model of ``federation`` (:func:`flsim.setup`) says of the training
    images ``indices`` before any attack (chapter 1's quantities; chapter 4 tests them):

    - ``poisoned_error``: mean 1 - p_target over the images, the error each poisoned sample's
      target-class logit carries (how sure the model is that they are not the target);
    - ``activation_scale``: mean L2 norm of the output layer's input a over the images, over that of
      the federation's clean test images: the output weight gradient (p - y) a^T scales with a, the
      output bias gradient p - y does not;
    - ``similarity``: the mean cosine between the images' activations a over pairs of different images
      (1: they drive the output layer alike, so their weight gradients add up).

    ``target_class``: the config's by default. :func:`predictor_table` does many sets at once.
    """
    return predictor_table(federation, {"set": indices}, target_class).iloc[0].to_dict()


def predictor_table(federation, sets: dict, target_class: int | None = None) -> pd.DataFrame:
    """:func:`backdoor_predictors` of each named set of training indices in ``sets`` (one row per name),
    the clean test images' activations computed once (chapter 4)."""
    target = federation.config.target_class if target_class is None else target_class
    trainer, weights = federation.trainer, federation.global_weights
    clean, _ = _output_inputs(trainer, weights, federation.test[0])
    clean_norm = clean.norm(dim=1).mean()
    rows = {}
    for name, indices in sets.items():
        x = federation.dataset.train_x[torch.as_tensor(list(indices))].to(federation.test[0].device)
        a, p = _output_inputs(trainer, weights, x)
        unit = a / a.norm(dim=1, keepdim=True).clamp(min=1e-12)
        rows[name] = {"poisoned_error": float((1 - p[:, target]).mean()),
                      "activation_scale": float(a.norm(dim=1).mean() / clean_norm),
                      "similarity": mean_overlap(unit) if len(a) > 1 else float("nan")}
    return pd.DataFrame.from_dict(rows, orient="index")


def set_words(name: str) -> str:
    """A named semantic set as a sentence says it: ``"striped_tshirts"`` -> "striped T-shirts"."""
    return name.replace("_", " ").replace("tshirts", "T-shirts")


def named_set_predictors(config, names) -> pd.DataFrame:
    """:func:`predictor_table` of the dataset's named semantic sets ``names`` (``Config.semantic_set``
    values), read from the pre-trained global model of ``config``'s federation: where a chapter's
    backdoor and the other side sit on chapter 4's axis, in that chapter's own setting."""
    known = SEMANTIC_SETS[config.dataset]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"names: {', '.join(map(repr, unknown))} not a semantic set of {config.dataset}; "
                         f"allowed: {', '.join(map(repr, known))}")
    return predictor_table(setup(config), {name: known[name] for name in names})


def leave_one_group_out(frame: pd.DataFrame, predictors, outcome: str, group: str,
                        label: str | None = None) -> pd.DataFrame:
    """Each group's rows predicted from the other groups' (chapter 4: leave one rule out).

    Per held-out group: the predictor with the largest |Spearman| (:func:`flsim.analysis.spearman`) with
    ``outcome`` on the other groups' rows, a least-squares line of ``outcome`` on it fitted there, and its
    prediction for the held-out rows (``predicted``). With ``label`` (a boolean column), also a logistic fit of it on the
    same predictor (``predicted_label``; where the training rows hold one class only, that class).
    Returns ``frame`` with columns chosen (the predictor used), predicted and predicted_label.
    """
    from sklearn.linear_model import LogisticRegression

    out = frame.copy()
    out["chosen"], out["predicted"], out["predicted_label"] = "", np.nan, pd.NA
    for held in frame[group].unique():
        test = frame[group] == held
        train = frame[~test]
        rhos = {p: abs(spearman(train[p], train[outcome])) for p in predictors}
        chosen = max(rhos, key=lambda p: -1 if not np.isfinite(rhos[p]) else rhos[p])
        x, y = train[chosen].to_numpy(float), train[outcome].to_numpy(float)
        slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(y.mean()))
        out.loc[test, "chosen"] = chosen
        out.loc[test, "predicted"] = intercept + slope * frame.loc[test, chosen].to_numpy(float)
        if label is not None:
            labels = train[label].astype(bool).to_numpy()
            if labels.all() or not labels.any():
                guess = np.full(int(test.sum()), bool(labels[0]))
            else:
                fit = LogisticRegression(C=1e6).fit(x[:, None], labels)  # all but unregularised
                guess = fit.predict(frame.loc[test, chosen].to_numpy(float)[:, None]).astype(bool)
            out.loc[test, "predicted_label"] = guess
    return out
