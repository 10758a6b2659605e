"""The median statistic (chapter 4's ratio from the median): exact, and recorded only where asked."""

import numpy as np
import pandas as pd
import pytest
import torch

import flsim
from flsim.metrics import column_median, coordinate_median


def sorted_median(block: torch.Tensor) -> torch.Tensor:
    ordered = block.sort(0).values
    n = len(block)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


@pytest.mark.parametrize("rows", [1, 2, 3, 10, 16, 17, 18, 64, 101, 300])
def test_column_median_is_the_sorted_median_bit_for_bit(rows):
    generator = torch.Generator().manual_seed(rows)
    block = torch.randn(rows, 257, generator=generator)
    block[:, :20] = 0.5  # every value tied
    block[: rows // 2, 20:40] = -1.0  # the lower half tied: the two middle values differ
    block[:, 40:60] = torch.randint(0, 3, (rows, 20), generator=generator).float()  # many ties
    assert torch.equal(column_median(block), sorted_median(block))
    assert torch.equal(column_median(block.double()), sorted_median(block.double()))


def test_the_median_of_two_middle_values_is_their_mean():
    block = torch.tensor([[0.0, 4.0], [1.0, 1.0], [2.0, 3.0], [10.0, 2.0]])
    assert column_median(block, network_rows=0).tolist() == [1.5, 2.5]  # the selection
    assert column_median(block).tolist() == [1.5, 2.5]  # the network


def test_coordinate_median_in_chunks_is_the_whole_median():
    weights = torch.randn(20, 40_000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(coordinate_median(weights), sorted_median(weights))


def test_the_median_statistic_is_recorded_only_where_asked(tiny_config):
    plain = flsim.run(tiny_config, cache=False)
    with_median = flsim.run(tiny_config.replace(record="clients+median"), cache=False)
    assert "max_abs_from_median" not in plain.updates.columns
    assert "max_abs_from_median" in with_median.updates.columns
    # the rest of the run is the same bits
    pd.testing.assert_frame_equal(with_median.updates.drop(columns="max_abs_from_median"), plain.updates)
    pd.testing.assert_frame_equal(with_median.rounds.drop(columns="seconds"), plain.rounds.drop(columns="seconds"))
    assert np.isfinite(with_median.updates.max_abs_from_median).all()
    assert tiny_config.key() != tiny_config.replace(record="clients+median").key()
