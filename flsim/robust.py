"""The robust statistics and pairwise geometry that detectors and aggregation rules share: the median,
the robust z-score and its outliers, and the Gram matrix of a round's updates with the cosines and
squared distances read from it."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from .metrics import chunks

GRAM_COLUMNS = 4096  # columns per float32 product of the Gram matrix
GRAM_ROWS = 128  # clients per block of the Gram matrix
GRAM_JOB_COLUMNS = 16 * GRAM_COLUMNS  # columns per job
MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its standard deviation


def median(values: torch.Tensor) -> torch.Tensor:
    """The median along dimension 0; the mean of the two middle values for an even count."""
    ordered = values.sort(0).values
    n = len(values)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def robust_z(values: torch.Tensor) -> torch.Tensor:
    """(x - median) / (1.4826 * MAD) along dimension 0: a z-score that outliers cannot inflate."""
    centre = median(values)
    spread = median((values - centre).abs()) * MAD_TO_STD
    return (values - centre) / spread.clamp_min(torch.finfo(values.dtype).tiny)


def outliers(scores: torch.Tensor, z: float = 3.0) -> torch.Tensor:
    """The clients whose score lies more than ``z`` robust standard deviations above the round's median."""
    return robust_z(scores) > z


def gram_matrix(updates: torch.Tensor, map: Callable = map) -> torch.Tensor:
    """K x K inner products of the rows, summed in float64, so that |a|^2 + |b|^2 - 2ab keeps its digits.

    Each product of GRAM_COLUMNS columns is a float32 matrix multiply added to
    a float64 sum (its rounding: about 1e-8 of the largest squared norm in a
    round of 100 paper-CNN updates, against 2e-6 for one float32 product of all
    their columns). Only the upper triangle is multiplied, the rest mirrored
    (half the K^2 P work for large K): per block b of GRAM_ROWS clients, one
    product of every client up to b's last against b's clients (a panel: the
    float32 products are the bits of the block by block products, and a third
    faster at 1000 clients). A job sums GRAM_JOB_COLUMNS columns, each
    GRAM_COLUMNS of them copied into one contiguous buffer first where several
    panels read them; the jobs, run by ``map`` (on worker threads, say), are
    added in order, so the bits do not depend on how many threads run them.
    """
    clients = len(updates)
    blocks = chunks(clients, GRAM_ROWS)

    def columns_gram(columns: slice) -> torch.Tensor:
        panels = [updates.new_zeros(b.stop, b.stop - b.start, dtype=torch.float64) for b in blocks]
        copied = len(blocks) > 1  # read by several panels: copied contiguous once
        part = updates.new_empty(clients, min(GRAM_COLUMNS, columns.stop - columns.start)) if copied else None
        product = updates.new_empty(clients * GRAM_ROWS)  # each panel's float32 product, contiguous
        for these in chunks(columns.stop - columns.start, GRAM_COLUMNS):
            block = updates[:, columns.start + these.start:columns.start + these.stop]
            if copied:
                block = part[:, :block.shape[1]].copy_(block)
            for b, panel in zip(blocks, panels):
                panel += torch.mm(block[:b.stop], block[b].T, out=product[:panel.numel()].view(panel.shape))
        total = updates.new_zeros(clients, clients, dtype=torch.float64)
        for b, panel in zip(blocks, panels):
            total[:b.stop, b] = panel
        return total

    gram = functools.reduce(torch.add, map(columns_gram, chunks(updates.shape[1], GRAM_JOB_COLUMNS)))
    for i, a in enumerate(blocks):
        for b in blocks[i + 1:]:
            gram[b, a] = gram[a, b].T
    return gram


def cosine_matrix(updates: torch.Tensor) -> torch.Tensor:
    """K x K cosine similarities between the rows (clients) of ``updates``."""
    return cosines_from_gram(gram_matrix(updates))


def pairwise_sq_distances(updates: torch.Tensor) -> torch.Tensor:
    """K x K squared L2 distances between the rows (clients) of ``updates``."""
    return sq_distances_from_gram(gram_matrix(updates))


def cosines_from_gram(gram: torch.Tensor) -> torch.Tensor:
    """K x K cosines from a Gram matrix of K updates."""
    norms = gram.diagonal().sqrt().clamp_min(torch.finfo(gram.dtype).tiny)
    return gram / norms[:, None] / norms[None, :]


def sq_distances_from_gram(gram: torch.Tensor) -> torch.Tensor:
    """K x K squared L2 distances from a Gram matrix of K updates (zero on the diagonal)."""
    squares = gram.diagonal()
    return (squares[:, None] + squares[None, :] - 2 * gram).clamp_min(0).fill_diagonal_(0)
