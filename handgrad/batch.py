"""Padded batches: many cases of one dtype in one set of arrays, so that every stage of the
gate (both references, the tolerances, the comparisons) runs once per batch, not per case.

Each case sits in the top-left corner of every axis of a shape *bucket*:
  - zero columns of x and rows of w1 (D), zero columns of w1/b1 and rows of w2 (H): they
    add exact zeros to s1 and s2;
  - rows with zero targets (N): they add nothing to a sum-reduced loss. The references
    always run with reduction="sum" and the engine divides by the true N for "mean":
    dividing inside by the padded N would push values near the underflow threshold below
    it, where XLA flushes them to zero;
  - classes with score −1e30 (C, the reference inputs only): their probability is exactly
    0 and their target 0.
Labels enter as one-hot rows, so that padded rows can carry zero targets.

:meth:`Batch.mask` marks each quantity's true elements; nothing outside it is ever
compared or allowed into a tolerance.
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import MOVED, Case, CaseSpec, case_direction, make_case
from handgrad.quantities import CASE_WISE, INPUT_AXES, QUANTITIES

Dims = tuple[int, int, int, int]

NEG = -1e30
"""The score of a padded class: exp(NEG − max) is exactly 0 in both dtypes."""

SMALL_STEPS = {"N": (64,), "D": (64,), "H": (64,), "C": (8, 16, 24, 32, 48, 64)}
"""Bucket sizes up to 64. C is finer than the rest because the softmax Jacobian, the
largest quantity, has C² elements per row (its rows are stacked, so N is never padded
there); each extra bucket costs a compilation per dtype (about 0.3 s)."""
LARGE_STEPS = {"N": (512,), "D": (512,), "H": (512,), "C": (128, 256, 512)}
COARSE_C = (16, 64)
"""C's steps when D or H is large: the Jacobian of such a case is small (N ≤ 64 rows), so
fewer buckets (fewer compilations) cost less than the padding they save."""
ELEMENTS_PER_BATCH = 2**18
"""Cases per batch: as many as keep the largest padded matrix of the batch near 2**18
elements (2 MB in float64)."""
MAX_BATCH = 64
SUB_BATCH = 8
"""Cases per sub-batch of the NumPy stages (the tolerances, the comparisons and the
invariants): :meth:`Batch.split` groups them by ``partition``, each padded only to its own
largest N, D, H and C (only JAX compiles per bucket). Over 2,000 random cases with N, D,
H, C in 1..64 the padded volume of the case-wise quantities (``padded_volume``) is 1.71
times the true one, against 2.21 in the sub-batches of 16 sorted by (N, D) before it.
Measured side by side on 2 cores (``python -m benchmarks.constants``, 500 cases, manual in
its worker, 2026-12-04): 155, 155 and 146 cases/s at 4, 8 and 16."""


def bucket(spec: CaseSpec) -> Dims:
    """The padded (N, D, H, C) of ``spec``: the smallest step that holds each dimension."""

    def up(value: int, axis: str) -> int:
        small = COARSE_C if axis == "C" and max(spec.D, spec.H) > SMALL_STEPS["D"][-1] else (
            SMALL_STEPS[axis])  # fmt: skip
        for step in (*small, *LARGE_STEPS[axis]):
            if value <= step:
                return step
        return -(-value // 1024) * 1024

    return (up(spec.N, "N"), up(spec.D, "D"), up(spec.H, "H"), up(spec.C, "C"))


JACOBIAN_PER_BATCH = 2**24
"""Softmax-Jacobian elements (N·C² per case, padded) per batch: 128 MB in float64 for each
copy of the candidate's. Without it a batch of 16 cases of 256 classes held 512 MB of the
candidate's Jacobians alone, and the default gate's largest process grew from 1.46 to
1.62 GiB once its tests verified full batches; with it, 1.48 GiB (``/usr/bin/time -v``).
Buckets of at most 64 classes keep their 64 cases."""


def batch_size(dims: Dims) -> int:
    N, D, H, C = dims
    widest = max(N * D, N * H, D * H, N * C, H * C)
    size = min(MAX_BATCH, ELEMENTS_PER_BATCH // widest, JACOBIAN_PER_BATCH // (N * C * C))
    return max(1, size)


@dataclass
class Batch:
    """B cases of one dtype padded into the bucket ``dims``."""

    cases: list[Case]
    dims: Dims
    dtype: np.dtype[Any]
    alone: bool = False
    """One case verified by itself (``engine.verify_case``): JAX and the Jacobian stage run
    programs shaped for it alone. Its values may then differ in the last bit from the same
    case's in a batch; every run of it alone gives the same ones."""
    _masks: dict[str, NDArray[np.bool_]] = field(default_factory=dict, repr=False)

    @property
    def specs(self) -> list[CaseSpec]:
        return [c.spec for c in self.cases]

    def __len__(self) -> int:
        return len(self.cases)

    @functools.cached_property
    def true_dims(self) -> NDArray[np.int64]:
        """B×4: each case's (N, D, H, C)."""
        return np.array([[s.N, s.D, s.H, s.C] for s in self.specs], dtype=np.int64)

    def size(self, axis: str) -> NDArray[np.int64]:
        """Each case's true size along ``axis`` ("N", "D", "H" or "C"), shape (B,)."""
        out: NDArray[np.int64] = self.true_dims[:, "NDHC".index(axis)]
        return out

    @functools.cached_property
    def row_offsets(self) -> NDArray[np.int64]:
        """Where each case's rows start in the row-stacked layout; B + 1 entries."""
        return np.concatenate([[0], np.cumsum(self.size("N"))])

    @functools.cached_property
    def row_case(self) -> NDArray[np.int64]:
        """The case of each stacked row."""
        return np.repeat(np.arange(len(self)), self.size("N"))

    @functools.cached_property
    def row_classes(self) -> NDArray[np.bool_]:
        """R×C: True on each stacked row's true classes."""
        out: NDArray[np.bool_] = self.mask_of("C")[self.row_case]
        return out

    def rows(self, padded: NDArray[Any]) -> NDArray[Any]:
        """Stack the true rows of a padded B×N×… array: R×…, R = Σ N."""
        n_index = np.arange(len(self.row_case)) - self.row_offsets[self.row_case]
        out: NDArray[Any] = padded[self.row_case, n_index]
        return out

    @functools.cached_property
    def mean(self) -> NDArray[np.bool_]:
        return np.array([s.reduction == "mean" for s in self.specs])

    def padded_shape(self, axes: Sequence[str]) -> tuple[int, ...]:
        full = dict(zip("NDHC", self.dims, strict=True))
        return (len(self), *(full[a] for a in axes))

    def mask_of(self, axes: Sequence[str]) -> NDArray[np.bool_]:
        """True on each case's own elements of an array with these axes."""
        key = "".join(axes)
        if key not in self._masks:
            full = dict(zip("NDHC", self.dims, strict=True))
            mask = np.ones((len(self), *(full[a] for a in axes)), dtype=bool)
            for i, a in enumerate(axes):
                shape = [1] * (len(axes) + 1)
                shape[0], shape[i + 1] = len(self), full[a]
                within = np.arange(full[a])[None, :] < self.size(a)[:, None]
                mask &= within.reshape(shape)
            self._masks[key] = mask
        return self._masks[key]

    def mask(self, quantity: str) -> NDArray[np.bool_]:
        return self.mask_of(QUANTITIES[quantity].axes)

    def pad(self, arrays: Sequence[NDArray[Any] | None], axes: Sequence[str],
            fill: float = 0.0, dtype: Any = None) -> NDArray[Any]:  # fmt: skip
        """Stack one array per case into the bucket, ``fill`` outside each case (and for a
        case whose array is None)."""
        out = np.full(self.padded_shape(axes), fill, dtype=dtype or self.dtype)
        for i, a in enumerate(arrays):
            if a is not None:
                out[corner(i, a.shape)] = a
        return out

    def unpad(self, padded: NDArray[Any], i: int, axes: Sequence[str]) -> NDArray[Any]:
        """Case ``i``'s own slice of a padded array (a copy)."""
        sizes = self.true_dims[i]
        return np.array(padded[corner(i, [int(sizes["NDHC".index(a)]) for a in axes])])

    def split(self, size: int | None = None,
              direction: bool = False) -> list[tuple[NDArray[np.intp], Batch]]:  # fmt: skip
        """(the cases' indices here, their sub-batch) for groups of ``size`` (``SUB_BATCH``)
        cases (``partition``), each trimmed to its own cases' largest N, D, H and C. The
        padded inputs (and with ``direction`` the directions) are cut from this batch's, not
        padded or drawn again."""
        size = size or SUB_BATCH
        shared = {"_zero_padded_inputs": self._zero_padded_inputs}
        if direction:
            shared["direction"] = self.direction
        out = []
        for idx in partition(self.true_dims, size):
            dims: Dims = tuple(int(v) for v in self.true_dims[idx].max(axis=0))  # type: ignore[assignment]
            sub = Batch([self.cases[i] for i in idx], dims, self.dtype)
            for name, arrays in shared.items():  # seeds the sub-batch's cached properties
                sub.__dict__[name] = {k: self.cut(v, idx, sub, INPUT_AXES[k])
                                      for k, v in arrays.items()}  # fmt: skip
            out.append((idx, sub))
        return out

    def cut(self, padded: NDArray[Any], idx: NDArray[np.intp], sub: Batch,
            axes: Sequence[str]) -> NDArray[Any]:  # fmt: skip
        """Sub-batch ``sub``'s part (cases ``idx``) of a padded array of this batch."""
        out: NDArray[Any] = padded[_within(idx, sub, axes)]
        return out

    def place(self, parts: Sequence[tuple[NDArray[np.intp], Batch, NDArray[Any]]],
              axes: Sequence[str], fill: float = 0.0) -> NDArray[Any]:  # fmt: skip
        """The padded array of this batch made of its sub-batches' (``cut``'s inverse),
        ``fill`` wherever no sub-batch reaches."""
        out = np.full(self.padded_shape(axes), fill, dtype=parts[0][2].dtype)
        for idx, sub, part in parts:
            out[_within(idx, sub, axes)] = part
        return out

    @functools.cached_property
    def _zero_padded_inputs(self) -> dict[str, NDArray[Any]]:
        arrays = {k: [c.target_matrix(self.dtype) if k == "y" else getattr(c, k)
                      for c in self.cases] for k in INPUT_AXES}  # fmt: skip
        return {k: self.pad(v, INPUT_AXES[k]) for k, v in arrays.items()}

    @functools.cached_property
    def direction(self) -> dict[str, NDArray[Any]]:
        """Each case's direction (:func:`handgrad.cases.case_direction`), padded with zeros:
        ẋ is zero for a case that holds x fixed. Treat as read-only."""
        drawn = [case_direction(c) for c in self.cases]
        return {k: self.pad([d[k] for d in drawn], INPUT_AXES[k]) for k in MOVED}

    def inputs(self, score_fill: float) -> dict[str, NDArray[Any]]:
        """The padded inputs; padded classes get the score ``score_fill`` through b2.
        Padded once per batch: treat them as read-only."""
        out = dict(self._zero_padded_inputs)
        if score_fill != 0.0:
            out["b2"] = np.where(self.mask_of(INPUT_AXES["b2"]), out["b2"], score_fill).astype(
                self.dtype
            )
        return out


def _within(idx: NDArray[np.intp], sub: Batch, axes: Sequence[str]) -> tuple[Any, ...]:
    """The index of sub-batch ``sub``'s cases ``idx`` in a padded array of its batch."""
    full = dict(zip("NDHC", sub.dims, strict=True))
    return (idx, *(slice(0, full[a]) for a in axes))


def corner(i: int, shape: Sequence[int]) -> tuple[int | slice, ...]:
    """The index of case ``i``'s top-left corner of the given shape in a padded array."""
    return (i, *(slice(0, n) for n in shape))


AXES_OF_WORK = collections.Counter(QUANTITIES[q].axes for q in CASE_WISE)
"""How many case-wise quantities have each tuple of axes (the Jacobian's rows are stacked,
not padded)."""


def padded_volume(dims: NDArray[np.int64]) -> int:
    """Elements of one case's case-wise quantities padded to ``dims`` (N, D, H, C): the
    work of torch, the tolerances and the comparisons, which grows with their padding."""
    size = dict(zip("NDHC", (int(v) for v in dims), strict=True))
    return sum(n * math.prod(size[a] for a in axes) for axes, n in AXES_OF_WORK.items())


def partition(true_dims: NDArray[np.int64], size: int) -> list[NDArray[np.intp]]:
    """Groups of ``size`` cases (at most the last one smaller) whose padding to their own largest
    N, D, H and C costs little: a k-d split, each group halved (in multiples of ``size``)
    along the axis whose halves hold the least padded volume (``padded_volume``)."""

    def cost(idx: NDArray[np.intp]) -> int:
        return len(idx) * padded_volume(true_dims[idx].max(axis=0))

    def halve(idx: NDArray[np.intp]) -> list[NDArray[np.intp]]:
        if len(idx) <= size:
            return [idx]
        half = -(-len(idx) // (2 * size)) * size  # the first half: whole groups
        best: tuple[int, NDArray[np.intp], NDArray[np.intp]] | None = None
        for axis in range(4):
            order = idx[np.argsort(true_dims[idx, axis], kind="stable")]
            low, high = order[:half], order[half:]
            total = cost(low) + cost(high)
            if best is None or total < best[0]:
                best = (total, low, high)
        assert best is not None
        return halve(best[1]) + halve(best[2])

    return halve(np.arange(len(true_dims)))


def batches(specs: Sequence[CaseSpec]) -> Iterator[tuple[list[int], Batch]]:
    """Group ``specs`` by (bucket, dtype) and yield (their indices, their batch), with the
    cases drawn only when their batch is reached, so memory stays at one batch."""
    for chunk in groups(specs):
        spec = specs[chunk[0]]
        yield chunk, Batch([make_case(specs[i]) for i in chunk], bucket(spec), np.dtype(spec.dtype))


def groups(specs: Sequence[CaseSpec]) -> list[list[int]]:
    """The indices of each batch ``batches`` makes of ``specs``: grouped by (bucket, dtype)
    in order of first appearance, in chunks of ``batch_size`` (only the last of a group
    partial), without drawing any case."""
    by_key: dict[tuple[Dims, str], list[int]] = {}
    for i, spec in enumerate(specs):
        by_key.setdefault((bucket(spec), spec.dtype), []).append(i)
    out = []
    for (dims, _), idx in by_key.items():
        size = batch_size(dims)
        out += [idx[start : start + size] for start in range(0, len(idx), size)]
    return out


def batch_of(cases: Sequence[Case], dims: Dims | None = None, alone: bool = False) -> Batch:
    """One batch of the given cases (all of one dtype), in ``dims`` or their own bucket;
    ``alone``: one case verified by itself (``Batch.alone``)."""
    dtypes = {c.x.dtype for c in cases}
    if len(dtypes) != 1:
        raise ValueError(f"cases: expected one dtype per batch, got {sorted(map(str, dtypes))}")
    if dims is None:
        each = np.array([bucket(c.spec) for c in cases])
        dims = tuple(int(v) for v in each.max(axis=0))  # type: ignore[assignment]
    assert dims is not None
    if alone and len(cases) != 1:
        raise ValueError(f"alone: one case expected, got {len(cases)}")
    return Batch(list(cases), dims, dtypes.pop(), alone=alone)
