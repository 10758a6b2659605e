"""How an attacker shapes what it submits, once it has trained on its data (chapters 8-9).

Each way is a step, a unit of its own: a function of the attacker's trained
weights and the round's :class:`Submission` context that returns the weights to
submit. The round loop applies, in registration order, every step whose
``applies(config)`` holds to every attacking client. The built-in steps, in
this order (what model, which coordinates, how large, disguised, bounded):

1. ``lp``: the LP attack (``lp_threshold``): the attacker's clean-trained model
   with only its backdoor-critical tensors taken from the malicious one;
2. ``neurotoxin``: Neurotoxin (``neurotoxin_top``): the update kept off the
   coordinates the last global update changed most;
3. ``model_replacement``: global + attack_scale * update (``attack_scale != 1``);
4. ``adaptive``: the output layer's tensors named by ``adaptive`` replaced by
   those of the model the attacker trains on its own clean data, its estimate
   of a benign client's model, assuming IID data (it costs a second local
   training);
5. ``norm_bound``: the update projected onto the L2 ball of radius
   ``attack_norm_bound``.

With the default config no step applies and the trained weights are submitted
bit for bit. A user adds a step with :func:`register_attack_step`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..config import Config, check_options
from ..layout import Layers
from ..registry import check_identifiable, identity, new_registry

ADAPTIVE_PARTS = {"none": (), "output_bias": ("bias",), "output_layer": ("weight", "bias")}  # of the output layer


@dataclass
class Submission:
    """What a step may read about the attacker and its round: the ``config``, the round's ``number``, the
    ``client``, the ``global_weights`` the round started from and the previous round's
    (``previous_global_weights``, None in round 1), the tensors' slices (``layers``), ``honest()``: the
    model the client trains from ``global_weights`` on its clean data (trained when first asked for),
    and ``evaluate(weights)``: main and backdoor accuracy and loss of any weights."""

    config: Config
    number: int
    client: int
    global_weights: torch.Tensor
    previous_global_weights: torch.Tensor | None
    layers: Layers
    train_honest: Callable[[], torch.Tensor]
    evaluate: Callable[[torch.Tensor], dict]
    _honest: torch.Tensor | None = None

    def honest(self) -> torch.Tensor:
        if self._honest is None:
            self._honest = self.train_honest()
        return self._honest


Step = Callable[[torch.Tensor, Submission], torch.Tensor]


@dataclass(frozen=True)
class StepSpec:
    """A registered step: ``step(weights, submission)``, the configs it ``applies`` to, and what identifies
    it in the result cache."""

    name: str
    step: Step
    applies: Callable[[Config], bool]
    version: str | None = None  # a user's step: None means its source code identifies it
    options: tuple[str, ...] | None = None  # the Config fields it reads; None: it may read any

    def identity(self, built_in: bool) -> str:
        """The step in a cache key (:func:`flsim.registry.identity`): a user's by its step and applies."""
        return identity(self.name, built_in, self.version, self.step, self.applies)


STEPS = new_registry("attack step", "flsim.register_attack_step")


def register_attack_step(name: str, step: Step, *, applies: Callable[[Config], bool],
                         version: str | None = None, options: tuple[str, ...] | None = None) -> StepSpec:
    """Shape every attacking client's submission with ``step(weights, submission)`` in the runs whose
    config ``applies(config)`` is true, after the steps registered before it.

    ``weights``: the attacker's weights so far (a P-vector: as trained, or as the
    steps before shaped them); ``submission``: the round's
    :class:`flsim.attacks.submission.Submission`. Return the P weights to submit.
    ``version`` identifies the step in the result cache; None: a hash of the
    source of ``step`` and ``applies``. ``options``: the Config fields the step
    reads (as :func:`flsim.register_aggregator`'s); None: it may read any. The cache key of a config names every
    user step that applies to it, and sweeps ship steps to their worker
    processes and Dask workers.

    >>> import flsim
    >>> def sign_flip(weights, submission):  # submit the update reversed
    ...     return 2 * submission.global_weights - weights
    >>> spec = flsim.register_attack_step("sign_flip", sign_flip, applies=lambda config: config.attack == "trigger")
    >>> [name for name in flsim.attacks.submission.steps_for(flsim.Config(attack="trigger"))]
    ['sign_flip']
    >>> del flsim.attacks.submission.STEPS["sign_flip"]  # unregisters it
    """
    if not callable(step):
        raise TypeError(f"step must be callable as step(weights, submission), got {step!r}")
    if not callable(applies):
        raise TypeError(f"applies must be callable as applies(config) -> bool, got {applies!r}")
    check_identifiable("the attack step", step, version)
    spec = StepSpec(name, step, applies, version, check_options(options))
    STEPS.add(name, spec)
    return spec


def steps_for(config: Config) -> dict[str, StepSpec]:
    """The steps that shape the attackers' submissions under ``config``, by name, in order."""
    return {name: spec for name, spec in STEPS.items() if spec.applies(config)}


def user_step_identities(config: Config) -> list[str]:
    """What the result cache knows the user's steps that apply to ``config`` by (built-in ones: nothing,
    the config's own fields and flsim's source hash say all)."""
    return [spec.identity(False) for name, spec in steps_for(config).items() if name not in STEPS.built_in]


def shape_submissions(weights: torch.Tensor, chosen: np.ndarray, malicious: np.ndarray,
                      submission: Callable[[int], Submission]) -> torch.Tensor:
    """``weights`` (a round's rows, in place) with every attacking row shaped by the steps that apply;
    ``submission(client)``: the context of that client's row."""
    rows = np.flatnonzero(malicious)
    if not len(rows):
        return weights
    for row in rows:
        context = submission(int(chosen[row]))
        for spec in steps_for(context.config).values():
            weights[row] = spec.step(weights[row], context)
    return weights


def lp(weights: torch.Tensor, submission: Submission) -> torch.Tensor:
    """The LP attack (Zhuang et al., ICLR 2024, "Backdoor Federated Learning by Poisoning Backdoor-Critical
    Layers"), per tensor: the attacker's honest model with only its backdoor-critical tensors taken from
    ``weights`` (:func:`critical_tensors`), the rest as honest training on its clean data gives them."""
    honest, layers = submission.honest(), submission.layers
    shaped = honest.clone()
    for name in critical_tensors(weights, honest, layers, submission.config.lp_threshold, submission.evaluate):
        shaped[layers[name]] = weights[layers[name]]
    return shaped


def critical_tensors(malicious: torch.Tensor, honest: torch.Tensor, layers: Layers, threshold: float,
                     evaluate: Callable[[torch.Tensor], dict]) -> list[str]:
    """The backdoor-critical tensors by substitution (Zhuang et al.'s layer substitution analysis): each
    tensor of ``malicious`` put alone into ``honest`` and ranked by the backdoor accuracy it brings; then,
    in that order, the fewest whose substitution together keeps ``threshold`` of ``malicious``'s own
    backdoor accuracy (none where the malicious model has none). ``evaluate(weights)``: its
    ``backdoor_accuracy``."""
    goal = threshold * evaluate(malicious)["backdoor_accuracy"]

    def with_malicious(names) -> torch.Tensor:
        mixed = honest.clone()
        for name in names:
            mixed[layers[name]] = malicious[layers[name]]
        return mixed

    alone = {name: evaluate(with_malicious([name]))["backdoor_accuracy"] for name in layers}
    ranked = sorted(layers, key=lambda name: -alone[name])  # stable: ties keep the model's order
    chosen = []
    while evaluate(with_malicious(chosen))["backdoor_accuracy"] < goal and len(chosen) < len(ranked):
        chosen.append(ranked[len(chosen)])
    return chosen


def neurotoxin(weights: torch.Tensor, submission: Submission) -> torch.Tensor:
    """Neurotoxin (Zhang et al., ICML 2022): the update ``weights - global`` set to zero on the coordinates
    of the top ``neurotoxin_top`` share, by magnitude, of the last global update (those honest clients
    move most, whose backdoor they would overwrite soonest), kept on the others
    (:func:`neurotoxin_mask`). The paper projects at every local SGD step; flsim masks the submitted
    update once. In round 1 no global update has been seen yet, and the update goes unmasked."""
    previous, g = submission.previous_global_weights, submission.global_weights
    if previous is None:
        return weights
    return g + (weights - g) * neurotoxin_mask(g - previous, submission.config.neurotoxin_top)


def neurotoxin_mask(last_update: torch.Tensor, top: float) -> torch.Tensor:
    """True where Neurotoxin's attacker may move: every coordinate but the ``round(top * P)`` largest of
    ``|last_update|``."""
    mask = torch.ones_like(last_update, dtype=torch.bool)
    mask[last_update.abs().topk(round(top * last_update.numel())).indices] = False
    return mask


def model_replacement(weights: torch.Tensor, submission: Submission) -> torch.Tensor:
    """global + attack_scale * (weights - global): the update scaled (Bagdasaryan et al., 2020)."""
    g = submission.global_weights
    return g + submission.config.attack_scale * (weights - g)


def adaptive(weights: torch.Tensor, submission: Submission) -> torch.Tensor:
    """The output layer's tensors of ``ADAPTIVE_PARTS[adaptive]`` taken from the attacker's honest model."""
    clean, layers, shaped = submission.honest(), submission.layers, weights.clone()
    for part in ADAPTIVE_PARTS[submission.config.adaptive]:
        where = layers[f"{layers.output_layer}.{part}"]
        shaped[where] = clean[where]
    return shaped


def norm_bound(weights: torch.Tensor, submission: Submission) -> torch.Tensor:
    """The update projected onto the L2 ball of radius ``attack_norm_bound`` around the global weights."""
    g, bound = submission.global_weights, submission.config.attack_norm_bound
    norm = float((weights - g).norm())
    return g + (weights - g) * (bound / norm) if norm > bound else weights


for _name, _step, _applies, _options in [
        ("lp", lp, lambda c: c.lp_threshold is not None, ("lp_threshold",)),
        ("neurotoxin", neurotoxin, lambda c: c.neurotoxin_top is not None, ("neurotoxin_top",)),
        ("model_replacement", model_replacement, lambda c: c.attack_scale != 1, ("attack_scale",)),
        ("adaptive", adaptive, lambda c: bool(ADAPTIVE_PARTS[c.adaptive]), ("adaptive",)),
        ("norm_bound", norm_bound, lambda c: c.attack_norm_bound is not None, ("attack_norm_bound",))]:
    STEPS.add(_name, StepSpec(_name, _step, _applies, None, _options), built_in=True)
