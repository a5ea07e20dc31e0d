"""The softmax Jacobian's stage: its rows stacked, and checked in blocks by one compiled
program.

dp/ds2 has N·C² elements, ten times all other quantities of a typical case together, and
a Jacobian row depends on one row of s2 only. So the engine does not pad it to N: it
stacks the true rows of a batch's cases and cuts them into blocks of ``BLOCK_ELEMENTS``
// C² rows, one shape per number of classes and dtype (a case verified alone has a
shorter last block: ``blocks``). For each block torch's
``softmax_jacobian`` runs on the block's rows, and one JAX program computes JAX's own
``softmax_jacobian``, the tolerance, both comparisons and both invariants, and returns
only each row's worst ratios: XLA fuses what took NumPy about 25 passes over the block
into one, and no C×C array but the candidate's and torch's is ever written.

The formulas (``tolerance``, ``checks``, ``row_ratios``) are written once against the
array API: the program traces them with jax.numpy, and a failing case's details come from
the same functions in NumPy, with both oracles' values of its rows. Within a row, the
padded classes (score −1e30, probability exactly 0) have tolerance ∞, so they never count.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad import oracles
from handgrad.batch import Batch
from handgrad.bounds import SAFETY
from handgrad.compare import INVARIANT, Comparison, compare
from handgrad.polymorphic import Polymorphic
from handgrad.tolerance import jacobian_tolerance

Q = "dp/ds2"
BLOCK_ELEMENTS = 2**18
"""About 2 MB of float64 per C×C array of a block. Measured side by side
(``python -m benchmarks.constants --constant jacobian.BLOCK_ELEMENTS``, 500 cases, 2 cores,
2026-12-03): 139, 153, 159 and 157 cases/s at 2¹⁶, 2¹⁷, 2¹⁸ and 2¹⁹."""
LEAST_ROWS = 64
"""The smallest block of a case verified alone: every case with N ≤ 64 fits one."""
REFERENCES = ("torch", "jax")
"""The order of the program's ratios: torch's rows (given), then JAX's (its own)."""
RULES = ("the softmax Jacobian must be symmetric",
         "the rows of the softmax Jacobian must sum to 0")  # fmt: skip


@dataclass
class Found:
    """A failing case's Jacobian, unpadded, for its messages."""

    refs: dict[str, NDArray[Any]]
    tol: NDArray[Any]
    failures: list[Comparison] = field(default_factory=list)


def tolerance(xp: Any, p: Any, e_p: Any, classes: Any, eps: float, tiny: float) -> tuple[Any, Any]:
    """ρ·(bound + tiny) of each element (R×C×C) from rows of p and of its bound (R×C, float64),
    ∞ outside the true classes (``classes``, R×C); and its sums over each row's true classes
    (R×C), which the row-sum rule needs."""
    tol = jacobian_tolerance(p, e_p, eps, tiny, xp)
    row_sums = xp.sum(xp.where(classes[..., None, :], tol, 0.0), axis=-1)
    both = classes[..., :, None] & classes[..., None, :]
    return xp.where(both, tol, xp.inf), row_sums


def checks(xp: Any, g: Any, gp: Any, tol: Any, row_sums: Any, classes: Any, eps: float,
           tiny: float) -> list[tuple[Any, Any]]:  # fmt: skip
    """(value, tolerance) of each rule in ``RULES`` for candidate rows g (R×C×C, float64)
    and its p (R×C). As for every invariant (:mod:`handgrad.compare`), the tolerance is the
    gate's tolerance of the elements involved (``tol``, and its row sums ``row_sums``) plus
    ρ times the check's own rounding: ε·|g| for the difference, one sum of C terms for the
    rows (C = each row's true number of classes)."""
    magnitude = xp.abs(g)
    rounding = eps * xp.sqrt(xp.sum(classes, axis=-1, keepdims=True) * 1.0) + eps
    row_tol = SAFETY * (rounding * (xp.sum(magnitude, axis=-1) + xp.abs(gp)) + tiny) + row_sums
    sym_tol = SAFETY * (eps * magnitude + tiny) + tol + xp.swapaxes(tol, -1, -2)
    return [(g - xp.swapaxes(g, -1, -2), sym_tol), (xp.sum(g, axis=-1), row_tol)]


def row_ratios(xp: Any, g: Any, refs: list[Any], gp: Any, p: Any, e_p: Any, classes: Any,
               eps: float, tiny: float) -> list[Any]:  # fmt: skip
    """Each row's worst ratio |g − ref| / tol against each of ``refs``, then the worst of
    the invariants (NaN where g has one: the caller makes it ∞). Every tolerance is at least
    ρ·tiny > 0 (∞ in the padding), so no 0/0."""
    g = g.astype(xp.float64)
    tol, row_sums = tolerance(xp, p, e_p, classes, eps, tiny)

    def worst(value: Any, bound: Any) -> Any:
        return xp.max(xp.abs(value) / bound, axis=tuple(range(1, value.ndim)))

    out = [worst(g - ref.astype(xp.float64), tol) for ref in refs]
    rules = [worst(v, t) for v, t in checks(xp, g, gp, tol, row_sums, classes, eps, tiny)]
    return [*out, xp.maximum(*rules)]


@functools.cache
def _program(dtype: str) -> Any:
    """One program per dtype, traced once for every block shape (:mod:`.polymorphic`): JAX's
    Jacobian of the block's s2 rows and ``row_ratios`` against it and torch's rows, fused."""
    oracles._jax()
    import jax.numpy as jnp

    from references import jax_ref

    info = np.finfo(dtype)
    eps, tiny = float(info.eps), float(info.tiny)

    def program(g: Any, torch_rows: Any, s2: Any, gp: Any, p: Any, e_p: Any, classes: Any) -> Any:
        refs = [torch_rows, jax_ref.softmax_jacobian(s2)]
        return jnp.stack(row_ratios(jnp, g, refs, gp, p, e_p, classes, eps, tiny))

    axes = ["RCC", "RCC", "RC", "RC", "RC", "RC", "RC"]
    return Polymorphic(program, axes, name=f"jacobian.row_ratios {dtype}")


def jax_rows(g: NDArray[Any], *arrays: NDArray[Any]) -> Any:
    """``_program``'s per-row ratios (3×rows) for one block: g, torch's rows, JAX's s2 rows,
    the candidate's p, p and its bound (float64), and the true classes. JAX's array, not
    yet computed: XLA runs it on threads of its own while the caller goes on."""
    return _program(g.dtype.name)(g, *arrays)


def blocks(R: int, C: int, alone: bool = False) -> list[int]:
    """Where the blocks of R stacked rows of C classes start, and where the last one ends:
    blocks of ``BLOCK_ELEMENTS`` // C² rows. A case verified alone (``Batch.alone``) has
    its last block cut to the least power of two (at least ``LEAST_ROWS``) that holds its
    rows: one case of 8 classes was padded to 4,096 rows. Every other batch keeps the fixed
    shape, so that a case's ratios never depend on its batch-mates: XLA's value for one
    row differed in the last bit between blocks of 64 and 1,024 rows (C = 8 and 16)."""
    full = max(1, BLOCK_ELEMENTS // (C * C))
    starts = list(range(0, R, full)) or [0]
    rest = R - starts[-1]
    last = min(full, max(LEAST_ROWS, 1 << (rest - 1).bit_length())) if alone else full
    return [*starts, starts[-1] + last]


def _fill(block: NDArray[Any], a: int, offsets: NDArray[np.int64], arrays: list[Any]) -> None:
    """Copy each case's rows (``arrays[i]``, None to skip) into the block of stacked rows
    that starts at row ``a``; ``offsets`` are the cases' first rows (B + 1 entries)."""
    b = a + len(block)
    first = int(np.searchsorted(offsets, a, side="right")) - 1
    for i in range(max(first, 0), len(arrays)):
        start = int(offsets[i])
        if start >= b:
            break
        if arrays[i] is None:
            continue
        lo, hi = max(a, start), min(b, start + len(arrays[i]))
        value = arrays[i][lo - start : hi - start]
        block[(slice(lo - a, hi - a), *(slice(0, n) for n in value.shape[1:]))] = value


@dataclass
class Started:
    """The stage, started (``start``): the stacked rows, and JAX's program for each block,
    which XLA computes on threads of its own until ``finish`` reads it. Nothing writes to
    these arrays meanwhile: JAX on CPU may read NumPy's memory without copying it."""

    batch: Batch
    rows: dict[str, NDArray[Any]]
    p_rows: NDArray[Any]
    ep_rows: NDArray[Any]
    classes: NDArray[np.bool_]
    g_of: list[NDArray[Any] | None]
    gp_of: list[NDArray[Any] | None]
    broken: NDArray[np.bool_]
    broken_p: NDArray[np.bool_]
    pending: list[tuple[slice, Any]]


def start(batch: Batch, s2: dict[str, NDArray[Any]], p: NDArray[Any], e_p: NDArray[Any],
          got: list[dict[str, NDArray[Any]]], broken: NDArray[np.bool_],
          broken_p: NDArray[np.bool_]) -> Started:  # fmt: skip
    """torch's rows and the start of JAX's program, block by block; ``finish`` gives the
    worst ratios of dp/ds2 per case against each reference and the invariants, and the
    details of failing cases. Between the two the engine compares the case-wise quantities
    while XLA computes (measured with :func:`handgrad.oracles.references`' overlap).

    ``s2``: each reference's padded s2 (torch's, then JAX's); ``p``, ``e_p``: the
    tolerance's float64 p and its bound, padded with zeros; ``got``: the candidate's
    outputs per case (partial where it raised first); ``broken``: cases whose dp/ds2 is
    missing or has the wrong shape or dtype (∞ against the references; the engine reports
    the breach); ``broken_p``: cases whose p is, which skip the invariants (their row sums
    are bounded with p).
    """
    C, offsets = batch.dims[3], batch.row_offsets
    R = int(offsets[-1])
    starts = blocks(R, C, batch.alone)
    total = starts[-1]

    def stacked(padded: NDArray[Any]) -> NDArray[Any]:
        out = np.zeros((total, *padded.shape[2:]), padded.dtype)
        out[:R] = batch.rows(padded)
        return out

    rows = {name: stacked(v) for name, v in s2.items()}
    p_rows, ep_rows = stacked(p), stacked(e_p)
    classes = np.zeros((total, C), dtype=bool)
    classes[:R] = batch.row_classes
    g_of = [None if broken[i] else out[Q] for i, out in enumerate(got)]
    gp_of = [None if broken[i] or broken_p[i] else out["p"] for i, out in enumerate(got)]
    pending = []
    for a, b in itertools.pairwise(starts):
        block = b - a
        g = np.zeros((block, C, C), batch.dtype)
        gp = np.zeros((block, C), np.float64)
        _fill(g, a, offsets, g_of)
        _fill(gp, a, offsets, gp_of)
        torch_rows = oracles.JACOBIAN["torch"](rows["torch"][a : a + block])
        cut = slice(a, a + block)
        pending.append((cut, jax_rows(g, torch_rows, rows["jax"][cut], gp, p_rows[cut],
                                      ep_rows[cut], classes[cut])))  # fmt: skip
    return Started(batch, rows, p_rows, ep_rows, classes, g_of, gp_of, broken, broken_p, pending)


def collect(started: Started) -> NDArray[np.float64]:
    """Every row's ratios (3×rows) from the blocks' programs, once XLA has computed them."""
    per_row = np.empty((3, len(started.classes)))
    for cut, ratios_of_block in started.pending:
        per_row[:, cut] = np.asarray(ratios_of_block)
    return per_row


def finish(started: Started) -> tuple[dict[tuple[str, str], NDArray[Any]], dict[int, Found]]:
    """``start``'s results: the worst ratios per case, and the failing cases' details."""
    s, batch, offsets = started, started.batch, started.batch.row_offsets
    R = int(offsets[-1])
    per_row = collect(started)
    per_row[np.isnan(per_row)] = math.inf  # a NaN anywhere in the row
    names = [*REFERENCES, INVARIANT]
    ratios = {(Q, name): np.maximum.reduceat(per_row[k, :R], offsets[:-1])
              for k, name in enumerate(names)}  # fmt: skip
    ratios[(Q, INVARIANT)][s.broken_p] = 0.0
    for (_, name), worst in ratios.items():
        worst[s.broken] = 0.0 if name == INVARIANT else math.inf
    found = {i: _details(batch, i, s.rows, s.p_rows, s.ep_rows, s.classes, s.g_of[i], s.gp_of[i])
             for i in range(len(batch)) if not s.broken[i]
             and any(ratios[(Q, name)][i] > 1 for name in names)}  # fmt: skip
    return ratios, found


def _details(batch: Batch, i: int, s2_rows: dict[str, NDArray[Any]], p_rows: NDArray[Any],
             ep_rows: NDArray[Any], classes: NDArray[Any], g_case: NDArray[Any] | None,
             gp_case: NDArray[Any] | None) -> Found:  # fmt: skip
    """A failing case's comparisons, by the stage's own formulas in NumPy on its rows."""
    spec = batch.specs[i]
    info = np.finfo(batch.dtype)
    eps, tiny = float(info.eps), float(info.tiny)
    rows = slice(int(batch.row_offsets[i]), int(batch.row_offsets[i + 1]))
    C, c = batch.dims[3], spec.C
    g = np.zeros((spec.N, C, C))
    gp = np.zeros((spec.N, C))
    if g_case is not None:
        g[:, :c, :c] = g_case
    if gp_case is not None:
        gp[:, :c] = gp_case
    refs = {name: oracles.JACOBIAN[name](v[rows]) for name, v in s2_rows.items()}
    tol, row_sums = tolerance(np, p_rows[rows], ep_rows[rows], classes[rows], eps, tiny)
    cut = (slice(None), slice(0, c), slice(0, c))
    got = np.asarray(g[cut], dtype=batch.dtype)
    tolerance_case = np.array(tol[cut])
    found = Found(refs={name: np.array(ref[cut]) for name, ref in refs.items()},
                  tol=tolerance_case)  # fmt: skip
    for name, ref in found.refs.items():
        comparison = compare(Q, name, spec, got, ref, tolerance_case)
        if not comparison.ok:
            found.failures.append(comparison)
    rules = checks(np, g, gp, tol, row_sums, classes[rows], eps, tiny)
    for rule, (value, bound) in zip(RULES, rules, strict=True):
        v, t = np.array(value[cut[: value.ndim]]), np.array(bound[cut[: bound.ndim]])
        comparison = compare(Q, INVARIANT, spec, v, np.zeros_like(v), t)
        if not comparison.ok:
            comparison.cause = rule
            found.failures.append(comparison)
    return found
