"""The reference run's quoted numbers: one copy in flsim.reference, the same in the CIFAR-10 appendix."""

import re
from pathlib import Path

import pytest

from flsim import reference

APPENDIX = Path(__file__).resolve().parents[1] / "book" / "appendix_cifar10.md"


def test_the_quoted_run_is_the_reference_notebooks():
    table = reference.reference_rounds()
    assert len(table) == 25 and table["round"].tolist() == list(range(1, 26))
    assert table.main_accuracy.iloc[0] == pytest.approx(0.3843) and table.main_accuracy.iloc[-1] == 0.6206
    assert (table.backdoor_accuracy > 0).idxmax() + 1 == 13 and table.backdoor_accuracy.iloc[-1] == 3 / 22
    assert table.index[table.attacker_rank == 1].tolist() == [0, 1, 2, 3, 4, 15, 19]  # rounds 1-5, 16, 20
    assert table.ratio.iloc[0] == pytest.approx(3.27, abs=0.005)


def test_the_appendix_quotes_the_same_numbers():
    rows = re.findall(r"^\| (\d+) \| ([\d.]+)% \| ([\d.]+)% \(\d+ of 22\) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \|$",
                      APPENDIX.read_text(), flags=re.M)
    table = reference.reference_rounds()
    assert len(rows) == len(table) == 25
    for row, (_, expected) in zip(rows, table.iterrows()):
        assert int(row[0]) == expected["round"]
        assert float(row[1]) == pytest.approx(100 * expected.main_accuracy, abs=0.051)
        assert float(row[2]) == pytest.approx(100 * expected.backdoor_accuracy, abs=0.051)
        assert float(row[5]) == pytest.approx(expected.ratio, abs=0.006)
        assert int(row[6]) == expected.attacker_rank
