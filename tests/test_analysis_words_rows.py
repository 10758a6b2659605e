"""flsim.analysis.words.row_interval_text: the "value [lo, hi]" of a table row's column (chapters 8-10)."""

import pandas as pd

from flsim.analysis import words


def test_row_interval_text_reads_the_column_and_its_bounds():
    row = pd.Series({"auc": 0.934, "auc_lo": 0.851, "auc_hi": 0.979, "tpr": 0.5, "tpr_lo": 0.3, "tpr_hi": 0.7})
    assert words.row_interval_text(row, "auc") == "0.93 [0.85, 0.98]"
    assert words.row_interval_text(row, "tpr", ".0%") == "50% [30%, 70%]"


def test_row_interval_text_takes_a_dict_and_drops_a_missing_interval():
    assert words.row_interval_text({"x": 0.25, "x_lo": float("nan"), "x_hi": float("nan")}, "x", ".0%") == "25%"


def test_row_interval_text_reads_a_row_of_a_frame_by_label():
    table = pd.DataFrame({"auc": [0.5, 1.0], "auc_lo": [0.4, 0.71], "auc_hi": [0.6, 1.0]}, index=["a", "b"])
    assert words.row_interval_text(table.loc["b"], "auc") == "1.00 [0.71, 1.00]"


def test_plural_adds_an_s_unless_the_count_is_one():
    assert words.plural(5, "seed") == "5 seeds"
    assert words.plural(1, "seed") == "1 seed"
    assert words.plural(0, "attacker") == "0 attackers"


def test_dataset_words_names_the_datasets_and_keeps_an_unknown_one():
    assert words.dataset_words("fashion_mnist") == "Fashion-MNIST"
    assert words.dataset_words("cifar10") == "CIFAR-10"
    assert words.dataset_words("svhn") == "svhn"
