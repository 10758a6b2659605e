"""The federated set-up in tables (chapter 2): the data's classes, the round-robin deal, the clients'
labels, the model's tensors against Keras' initialisers, where an attacker poisons, and the two runs'
accuracies. Each function returns what the chapter shows and the values its text glues, computed
from the objects ``flsim.setup`` and ``flsim.run`` return, so the chapter builds no table and no
sentence itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import attacks, layout, partition
from ..models import MODELS
from .words import dataset_words


def federation_settings(config) -> dict:
    """The settings chapter 2's text names, from its ``config``: the sizes, the learning rate and batch,
    the honest clients beside the attackers, and the local epochs in words ("one epoch", "2 epochs")."""
    epochs = config.local_epochs
    return dict(num_clients=config.num_clients, samples_per_client=config.samples_per_client,
                num_rounds=config.num_rounds, lr=config.lr, batch_size=config.batch_size,
                malicious_data_rate=config.malicious_data_rate,
                num_honest=config.num_clients - config.attackers,
                epochs_text="one epoch" if epochs == 1 else f"{epochs} epochs")


def class_balance(dataset) -> tuple[pd.DataFrame, dict]:
    """Per class (the index): its training and test images; and the values the text glues: the sizes,
    the number of classes, the dataset's name and "each class equally often" where every class has as
    many images as every other (in the training set and in the test set), else the range."""
    table = pd.DataFrame({"class": dataset.classes,
                          "train": torch.bincount(dataset.train_y, minlength=dataset.num_classes).numpy(),
                          "test": torch.bincount(dataset.test_y, minlength=dataset.num_classes).numpy()})
    even = table.train.nunique() == table.test.nunique() == 1
    balance = ("each class equally often" if even else
               f"from {table.train.min()} to {table.train.max()} training images per class")
    return table.set_index("class"), dict(
        train_size=len(dataset.train_y), test_size=len(dataset.test_y), num_classes=dataset.num_classes,
        dataset_name=dataset_words(dataset.name), class_balance=balance)


def party_sizes(federation) -> tuple[pd.DataFrame, dict]:
    """Per party (the server, then each client): the images the round robin deals it from the pool (the
    training set less the backdoor images, which no client holds) and those it uses. Values: the
    server's pre-training images, a party's deal, and what the chapter's two runs (clean and
    backdoored, same sizes) cost: sample-passes of training (every client's and the server's images
    once per epoch, the clients' every round) and images evaluated (the test images in both runs and
    the backdoor images in the backdoored one, after the pre-training and after every round)."""
    config = federation.config
    excluded = federation.backdoor.excluded if federation.backdoor else []
    deal = partition.round_robin(len(federation.dataset.train_y) - len(excluded), config.num_clients + 1)
    parties = (federation.server_data, *federation.clean_data)
    table = pd.DataFrame({"party": ["server"] + [f"client {k}" for k in range(config.num_clients)],
                          "round-robin deal": [len(d) for d in deal],
                          "used": [len(y) for _, y in parties]})
    server = len(federation.server_data[1])
    trained = config.num_rounds * sum(len(y) for _, y in federation.clean_data) + server
    backdoor = len(federation.backdoor_test[1]) if federation.backdoor_test else 0
    evaluated = (config.num_rounds + 1) * (2 * len(federation.test[1]) + backdoor)
    return table.set_index("party"), dict(server_samples=server, deal_size=len(deal[1]),
                                          sample_passes=2 * config.local_epochs * trained,
                                          evaluated_images=evaluated)


def label_counts(federation) -> pd.DataFrame:
    """Each client's (rows) training labels counted per class (columns)."""
    classes = federation.dataset.num_classes
    return pd.DataFrame([torch.bincount(y, minlength=classes).cpu().numpy() for _, y in federation.clean_data])


def largest_label_share(counts: pd.DataFrame) -> float:
    """The largest share, in %, that one label has of one client's data (a :func:`label_counts` table)."""
    return 100 * float((counts.max(axis=1) / counts.sum(axis=1)).max())


def label_splits(iid, skewed) -> tuple[dict[str, pd.DataFrame], dict]:
    """The clients' labels under the paper's round robin (the federation ``iid``) and a Dirichlet split
    (``skewed``), as :func:`flsim.plots.label_counts` shows them (panel title -> :func:`label_counts`),
    and the largest share of one label in a client's data under each (iid_max_share,
    dirichlet_max_share, in %)."""
    counts = label_counts(iid), label_counts(skewed)
    splits = {"round robin (IID, the paper)": counts[0],
              f"Dirichlet, alpha = {skewed.config.dirichlet_alpha}": counts[1]}
    return splits, dict(iid_max_share=largest_label_share(counts[0]),
                        dirichlet_max_share=largest_label_share(counts[1]))


def initial_tensors(federation, output_weight: str = "fc2.weight",
                    largest_tensor: str = "fc1.weight") -> tuple[pd.DataFrame, dict]:
    """Per parameter tensor of the run's model at its initialisation: its shape, size, the bound of the
    Keras initialiser it is drawn from (He-uniform, sqrt(6 / fan-in), for weights; Glorot-uniform,
    sqrt(6 / (fan-in + fan-out)), for ``output_weight``; 0 for a bias) and the largest |w| drawn.
    Values: the model's parameters and the share of them, in %, in ``largest_tensor``."""
    config = federation.config
    model = MODELS.entry(config.model).build(federation.dataset.input_shape, federation.dataset.num_classes)
    model.requires_grad_(False)
    layout.load_flat(model, federation.initial_weights)
    rows = []
    for name, p in model.named_parameters():
        fans = p[0].numel() + (p.shape[0] if name == output_weight else 0)  # Glorot adds fan-out
        rows.append(dict(tensor=name, shape=tuple(p.shape), parameters=p.numel(),
                         keras_bound=round(float(np.sqrt(6 / fans)), 4) if p.ndim > 1 else 0.0,
                         largest=round(float(p.abs().max()), 4)))
    table = pd.DataFrame(rows)
    total = int(table.parameters.sum())
    share = 100 * float(table.parameters[table.tensor == largest_tensor].iloc[0] / total)
    return table.set_index("tensor"), dict(num_parameters=total, fc1_share=share)


def poison_table(samples_per_client: int, malicious_data_rate: int, num_malicious=(1, 2, 4)) -> pd.DataFrame:
    """Per number of attackers (the index): the first positions an attacker poisons, how many it
    poisons and how many all attackers poison together (:func:`flsim.attacks.poison_positions`)."""
    rows = []
    for m in num_malicious:
        positions = attacks.poison_positions(samples_per_client, m, malicious_data_rate)
        rows.append(dict(num_malicious=m, first_positions=positions[:4].tolist(),
                         per_attacker=len(positions), all_attackers=m * len(positions)))
    return pd.DataFrame(rows).set_index("num_malicious")


def source_class(dataset, backdoor) -> int:
    """The class a semantic backdoor's images show (the most frequent true label of its images;
    chapters 2 and 3)."""
    return int(dataset.train_y[backdoor.excluded].mode().values)


def backdoor_values(dataset, semantic, target_class: int) -> dict:
    """The semantic backdoor in the text's words: the class its images show, the class it labels them
    as, how many images it has and how many points of backdoor accuracy one of them is worth."""
    return dict(source_name=dataset.classes[source_class(dataset, semantic)],
                target_name=dataset.classes[target_class], num_semantic_images=len(semantic.eval_y),
                backdoor_step=100 / len(semantic.eval_y))


def run_accuracies(clean, backdoored) -> tuple[pd.DataFrame, dict]:
    """The clean and the backdoored run side by side, round by round (main accuracy of both, backdoor
    accuracy of the backdoored one), and the values the text glues, in %: each run's final and round-0
    main accuracy, the backdoor's final and highest accuracy, and the largest gap between the two
    main-task curves after round 0."""
    columns = ["round", "main_accuracy", "backdoor_accuracy"]
    table = clean.rounds[columns[:2]].merge(backdoored.rounds[columns], on="round",
                                            suffixes=(" clean", " backdoored"))
    final = backdoored.rounds.iloc[-1]
    gaps = (clean.rounds.main_accuracy - backdoored.rounds.main_accuracy).abs()[1:]  # after round 0
    found = dict(clean_accuracy=clean.rounds.main_accuracy.iloc[-1],
                 backdoored_accuracy=final.main_accuracy, backdoor_accuracy=final.backdoor_accuracy,
                 backdoor_accuracy_max=backdoored.rounds.backdoor_accuracy.max(), max_gap=gaps.max(),
                 clean_start=clean.rounds.main_accuracy.iloc[0],
                 backdoored_start=backdoored.rounds.main_accuracy.iloc[0])
    return table.set_index("round"), {name: 100 * float(value) for name, value in found.items()}


def setup_findings(g: dict) -> dict[str, str]:
    """Chapter 2's findings table (label -> value) from its glued values ``g``."""
    return {
        "training / test images": f"{g['train_size']} / {g['test_size']}",
        "images the server pre-trains on": g["server_samples"],
        "clients x images each": f"{g['num_clients']} x {g['samples_per_client']}",
        "largest share of one label in a client's data, round robin / Dirichlet":
            f"{g['iid_max_share']:.0f}% / {g['dirichlet_max_share']:.0f}%",
        "model parameters": g["num_parameters"],
        "main accuracy after the last round, clean / backdoored":
            f"{g['clean_accuracy']:.1f}% / {g['backdoored_accuracy']:.1f}%",
        "backdoor accuracy, last round / peak":
            f"{g['backdoor_accuracy']:.0f}% / {g['backdoor_accuracy_max']:.0f}%",
    }
