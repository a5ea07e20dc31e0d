"""The softmax Jacobian's stage: its rows stacked, and processed in cache-sized chunks.

dp/ds2 has N·C² elements, ten times all other quantities of a typical case together, and
a Jacobian row depends on one row of s2 only. So the engine does not pad it to N: it
stacks the true rows of a batch's cases, packs whole cases into chunks of about
``CHUNK_ELEMENTS`` elements, and for each chunk runs both oracles' ``softmax_jacobian``,
the tolerance, the comparisons and the invariants while the chunk is in cache (on this
machine the same NumPy work on whole batches ran 4.5× slower, limited by memory).

Within a row, the padded classes (score −1e30, probability exactly 0) have tolerance ∞, so
they never count. A failing case is unpacked here, while its chunk is at hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad import oracles
from handgrad.batch import Batch
from handgrad.bounds import SAFETY
from handgrad.compare import INVARIANT, Comparison, compare, worst_ratios
from handgrad.tolerance import jacobian_tolerance

Q = "dp/ds2"
CHUNK_ELEMENTS = 2**17
"""About 1 MB of float64 per array of a chunk: each stays in the L2 cache."""
RULES = ("the softmax Jacobian must be symmetric",
         "the rows of the softmax Jacobian must sum to 0")  # fmt: skip


@dataclass
class Found:
    """A failing case's Jacobian, unpadded, for its messages."""

    refs: dict[str, NDArray[Any]]
    tol: NDArray[Any]
    failures: list[Comparison] = field(default_factory=list)


def _chunks(batch: Batch) -> Iterator[list[int]]:
    """Whole cases, packed greedily up to CHUNK_ELEMENTS (a large case alone)."""
    C = batch.dims[3]
    limit = max(1, CHUNK_ELEMENTS // (C * C))
    chunk: list[int] = []
    rows = 0
    for i, n in enumerate(batch.size("N")):
        if chunk and rows + n > limit:
            yield chunk
            chunk, rows = [], 0
        chunk.append(i)
        rows += int(n)
    if chunk:
        yield chunk


def invariants(g: NDArray[Any], p: NDArray[Any], tol: NDArray[Any], row_tol_sums: NDArray[Any],
               classes: NDArray[Any], eps: float,
               tiny: float) -> list[tuple[NDArray[Any], NDArray[Any]]]:  # fmt: skip
    """(value, tolerance) of each rule in ``RULES`` for candidate rows g (R×C×C, float64)
    and its p (R×C). As for every invariant (:mod:`handgrad.compare`), the tolerance is the
    gate's tolerance of the elements involved (``tol``, and its row sums ``row_tol_sums``)
    plus ρ times the check's own rounding: ε·|g| for the difference, one sum of C terms for
    the rows (C = each row's true number of classes)."""
    symmetric = g - np.swapaxes(g, -1, -2)
    magnitude = np.abs(g)
    rounding = eps * np.sqrt(classes.sum(axis=-1, keepdims=True)) + eps
    row_tol = SAFETY * (rounding * (magnitude.sum(axis=-1) + np.abs(p)) + tiny) + row_tol_sums
    sym_tol = magnitude  # reused in place: ρ·(ε·|g| + tiny) + tol + tolᵀ
    sym_tol *= SAFETY * eps
    sym_tol += SAFETY * tiny
    sym_tol += tol
    sym_tol += np.swapaxes(tol, -1, -2)
    return [(symmetric, sym_tol), (g.sum(axis=-1), row_tol)]


def stage(batch: Batch, s2: dict[str, NDArray[Any]], p: NDArray[Any], e_p: NDArray[Any],
          got: list[dict[str, NDArray[Any]]], broken: NDArray[np.bool_],
          broken_p: NDArray[np.bool_]) -> tuple[dict[tuple[str, str], NDArray[Any]], dict[int, Found]]:  # fmt: skip
    """Worst ratios of dp/ds2 per case against each reference and the invariants, and the
    details of failing cases.

    ``s2``: each reference's padded s2; ``p``, ``e_p``: the tolerance's float64 p and its
    bound, padded with zeros; ``got``: the candidate's outputs per case (partial where it
    raised first); ``broken``: cases whose dp/ds2 is missing or has the wrong shape or
    dtype (∞ against the references; the engine reports the breach); ``broken_p``: cases
    whose p is, which skip the invariants (their row sums are bounded with p).
    """
    info = np.finfo(batch.dtype)
    eps, tiny = float(info.eps), float(info.tiny)
    B, C = len(batch), batch.dims[3]
    names = list(s2)
    ratios = {(Q, name): np.zeros(B) for name in [*names, INVARIANT]}
    found: dict[int, Found] = {}
    s2_rows = {name: batch.rows(v) for name, v in s2.items()}
    p_rows, ep_rows = batch.rows(p), batch.rows(e_p)
    offsets = batch.row_offsets
    for chunk in _chunks(batch):
        a, b = int(offsets[chunk[0]]), int(offsets[chunk[-1] + 1])
        local = offsets[chunk[0] : chunk[-1] + 2] - a
        refs = {name: oracles.JACOBIAN[name](rows[a:b]) for name, rows in s2_rows.items()}
        classes = batch.row_classes[a:b]
        tol = jacobian_tolerance(p_rows[a:b], ep_rows[a:b], eps, tiny)
        row_tol_sums = (tol * classes[:, None, :]).sum(axis=-1)  # before the padding's ∞
        if not classes.all():
            tol[~(classes[:, :, None] & classes[:, None, :])] = np.inf
        g = np.zeros((b - a, C, C))
        gp = np.zeros((b - a, C))
        for k, i in enumerate(chunk):
            out = got[i]
            if not broken[i]:
                n, c = out[Q].shape[0], out[Q].shape[-1]
                g[local[k] : local[k] + n, :c, :c] = out[Q]
            if not broken[i] and not broken_p[i]:
                gp[local[k] : local[k] + n, :c] = out["p"]
        # Every tolerance here is at least ρ·tiny > 0 (∞ in the padding): no 0/0.
        per_row = {name: worst_ratios(g, ref, tol, positive=True) for name, ref in refs.items()}
        checks = invariants(g, gp, tol, row_tol_sums, classes, eps, tiny)
        per_row[INVARIANT] = np.maximum.reduce(
            [worst_ratios(v, None, t, positive=True) for v, t in checks]
        )
        for name, worst in per_row.items():
            ratios[(Q, name)][chunk] = np.maximum.reduceat(worst, local[:-1])
        ratios[(Q, INVARIANT)][broken_p] = 0.0
        for k, i in enumerate(chunk):
            if broken[i]:
                continue
            if any(ratios[(Q, name)][i] > 1 for name in per_row):
                rows = slice(int(local[k]), int(local[k + 1]))
                found[i] = _details(batch, i, rows, refs, tol, g, checks)
    for (_, name), worst in ratios.items():
        worst[broken] = 0.0 if name == INVARIANT else math.inf
    return ratios, found


def _details(batch: Batch, i: int, rows: slice, refs: dict[str, NDArray[Any]],
             tol: NDArray[Any], g: NDArray[Any],
             checks: list[tuple[NDArray[Any], NDArray[Any]]]) -> Found:  # fmt: skip
    spec = batch.specs[i]
    c = spec.C
    cut = (rows, slice(0, c), slice(0, c))
    got = np.asarray(g[cut], dtype=batch.dtype)
    tolerance = np.array(tol[cut])
    found = Found(refs={name: np.array(ref[cut]) for name, ref in refs.items()}, tol=tolerance)
    for name, ref in found.refs.items():
        comparison = compare(Q, name, spec, got, ref, tolerance)
        if not comparison.ok:
            found.failures.append(comparison)
    for rule, (value, bound) in zip(RULES, checks, strict=True):
        v, t = np.array(value[cut[: value.ndim]]), np.array(bound[cut[: bound.ndim]])
        comparison = compare(Q, INVARIANT, spec, v, np.zeros_like(v), t)
        if not comparison.ok:
            comparison.cause = rule
            found.failures.append(comparison)
    return found
