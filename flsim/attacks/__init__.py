"""Backdoor attacks: what a malicious client trains on, and how success is measured.

Backdoor accuracy is defined here, once: the share of the backdoor evaluation
set that the global model classifies as the target class. For a semantic
backdoor that set is the backdoor images themselves (as in the paper); for the
trigger backdoor it is trigger-stamped test images whose true class is not the
target.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Training-set indices of natural images that share a feature (chapter 2).
SEMANTIC_SETS: dict[str, dict[str, tuple[int, ...]]] = {
    # Bagdasaryan et al.'s CIFAR-10 car sets, as listed in the reference notebook.
    "cifar10": {
        "racing_stripes": (2180, 2771, 3233, 4932, 6241, 6813, 6869, 9476, 11395, 11744, 14209, 14238,
                           18716, 19793, 20781, 21529, 31311, 40518, 40633, 42119, 42663, 49392),
        "green_cars": (389, 561, 874, 1605, 3378, 3678, 4528, 9744, 19165, 19500, 21422, 22984, 32941,
                       34287, 34385, 36005, 37365, 37533, 38658, 38735, 39824, 40138, 41336, 41861,
                       47001, 47026, 48003, 48030, 49163, 49588),
        "striped_wall": (330, 568, 3934, 12336, 30560, 30696, 33105, 33615, 33907, 36848, 40713, 41706),
    },
    # Horizontally striped T-shirts (class 0), close to the target class Pullover: the T-shirts with
    # the most row-to-row contrast inside the garment, checked by eye; graphic prints dropped.
    "fashion_mnist": {
        "striped_tshirts": (26, 11744, 14254, 17216, 19725, 19856, 25262, 28325, 28447, 31908, 35989,
                            39605, 40019, 40900, 42580, 43855, 50126, 50225, 50981, 51558),
        # Flat sandals (class 5), far from the target class Pullover: the 20 sandals with the least ink
        # (smallest pixel sum; flat thong and strap sandals, a thin line seen from the side).
        "flat_sandals": (63, 1012, 3095, 9230, 10886, 12545, 14410, 17028, 25124, 31637, 31972, 35508,
                         37162, 39009, 41586, 46816, 49031, 58242, 58301, 58751),
    },
    "mnist": {},
}
DEFAULT_SEMANTIC_SET = {"cifar10": "racing_stripes", "fashion_mnist": "striped_tshirts"}


def semantic_set_name(dataset_name: str, semantic_set: str | None) -> str:
    """The semantic set a config means: the one it names, else the dataset's default."""
    return semantic_set or DEFAULT_SEMANTIC_SET[dataset_name]


def semantic_indices(dataset_name: str, semantic_set: str | None = None,
                     indices: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The training-set indices of a semantic backdoor's images: ``indices`` (``Config.semantic_indices``)
    if given, else those of the named set, else of the dataset's default set."""
    if indices is not None:
        return tuple(indices)
    return SEMANTIC_SETS[dataset_name][semantic_set_name(dataset_name, semantic_set)]


TRIGGER_SIZE = 4  # a 4 x 4 checkerboard, one pixel in from the bottom-right corner


def poison_positions(num_samples: int, num_malicious: int, malicious_data_rate: int) -> torch.Tensor:
    """The paper's rule: positions 0, m*r, 2*m*r, ... of a malicious client's data."""
    return torch.arange(0, num_samples, num_malicious * malicious_data_rate)


def trigger_mask(part: int = 0, parts: int = 1) -> torch.Tensor:
    """Which pixels of the trigger part ``part`` of ``parts`` covers (DBA, chapter 8).

    1 part: the whole 4 x 4 trigger; 2 parts: its top and bottom halves;
    4 parts: its 2 x 2 quadrants, row by row.
    """
    if parts not in (1, 2, 4) or not 0 <= part < parts:
        raise ValueError(f"part must be in 0..parts-1 with parts 1, 2 or 4; got part={part}, parts={parts}")
    half = TRIGGER_SIZE // 2
    mask = torch.zeros(TRIGGER_SIZE, TRIGGER_SIZE, dtype=torch.bool)
    row, col = divmod(part, 2) if parts == 4 else (part, None)
    rows = slice(None) if parts == 1 else slice(row * half, (row + 1) * half)
    cols = slice(None) if col is None else slice(col * half, (col + 1) * half)
    mask[rows, cols] = True
    return mask


def stamp_trigger(images: torch.Tensor, part: int = 0, parts: int = 1) -> torch.Tensor:
    """A copy of ``images`` (N x C x H x W, values in [0, 1]) with the trigger, or one DBA part of it, stamped on."""
    stamped = images.clone()
    rows = torch.arange(TRIGGER_SIZE)
    pattern = ((rows[:, None] + rows[None, :]) % 2).to(images.dtype)
    mask = trigger_mask(part, parts)
    region = stamped[..., -1 - TRIGGER_SIZE:-1, -1 - TRIGGER_SIZE:-1]  # a view: writing it writes stamped
    region[..., mask] = pattern[mask]
    return stamped


@dataclass(frozen=True)
class Backdoor:
    """An attack's data: what poisoned positions receive and how success is measured."""

    kind: str  # "semantic" or "trigger"
    target_class: int
    excluded: torch.Tensor  # training-set indices kept out of the honest pool
    images: torch.Tensor | None  # semantic: the images that replace poisoned samples
    eval_x: torch.Tensor
    eval_y: torch.Tensor
    trigger_parts: int = 1  # DBA: attacker i stamps part i mod trigger_parts; evaluation uses the whole trigger

    def poison(self, x: torch.Tensor, y: torch.Tensor, num_malicious: int,
               malicious_data_rate: int, attacker: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """A malicious client's data: same size, poisoned at the paper's positions.

        Semantic: positions receive the backdoor images in order, cycling.
        Trigger: the client's own images at those positions get the trigger
        (with DBA, the part of it that belongs to ``attacker``).
        Both are relabelled to the target class.
        """
        positions = poison_positions(len(x), num_malicious, malicious_data_rate)
        x, y = x.clone(), y.clone()
        if self.kind == "semantic":
            x[positions] = self.images[torch.arange(len(positions)) % len(self.images)]
        else:
            x[positions] = stamp_trigger(x[positions], attacker % self.trigger_parts, self.trigger_parts)
        y[positions] = self.target_class
        return x, y


def make_backdoor(attack: str, dataset, target_class: int, semantic_set: str | None = None,
                  trigger_parts: int = 1, indices: tuple[int, ...] | None = None) -> Backdoor | None:
    """The backdoor for ``attack`` ("none", "semantic" or "trigger") on ``dataset``.

    Semantic: the images of ``indices`` if given, else of ``semantic_set`` (see :func:`semantic_indices`).
    ``trigger_parts`` > 1 is the distributed backdoor attack (DBA, Xie et al., ICLR 2020):
    each attacker trains on one part of the trigger, the evaluation uses all of it.
    """
    if attack == "none":
        return None
    if attack == "semantic":
        indices = torch.tensor(semantic_indices(dataset.name, semantic_set, indices))
        images = dataset.train_x[indices]
        labels = torch.full((len(indices),), target_class)
        return Backdoor("semantic", target_class, indices, images, images, labels)
    if attack == "trigger":
        keep = dataset.test_y != target_class
        eval_x = stamp_trigger(dataset.test_x[keep])
        labels = torch.full((len(eval_x),), target_class)
        return Backdoor("trigger", target_class, torch.tensor([], dtype=torch.int64), None, eval_x, labels,
                        trigger_parts)
    raise ValueError(f"attack={attack!r} is not allowed; choose one of 'none', 'semantic', 'trigger'")
