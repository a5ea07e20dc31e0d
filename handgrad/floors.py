"""Flush-to-zero floors, per case: how many smallest-normal numbers each quantity may lose.

XLA on CPU flushes subnormal results to zero, and the losses all point towards 0, so a sum
of flushed terms loses up to the sum of its weights × tiny. Each ``floor_*`` function (and
each entry of ``SECOND_ORDER``) gives that count for one quantity, per case of a batch; the
tolerance is ρ·(bound + tiny·floor), the bounds being those of :mod:`handgrad.bounds` and
:mod:`handgrad.bounds_second`. The inputs are the bounds' (:class:`~handgrad.bounds.Magnitudes`):
float64, zero in the padding, so a maximum or sum over a padded axis is the case's own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import numpy as np

from handgrad.bounds import Array, Magnitudes


def shared(formula: Callable[[Magnitudes], Array]) -> Callable[[Magnitudes], Array]:
    """``formula`` computed once per batch: a sub-expression that several quantities' floors
    read (its result is shared, so callers never write to it)."""

    @wraps(formula)
    def once(m: Magnitudes) -> Array:
        if formula not in m._shared:
            m._shared[formula] = formula(m)
        return m._shared[formula]

    return once


# --- first order ------------------------------------------------------------------------------


def floor_one(m: Magnitudes) -> Array:
    """One flushed element: every quantity may lose one smallest-normal number."""
    return np.ones(m.n.shape[0])


@shared
def _do1(m: Magnitudes) -> Array:
    """Σ_c |w2[h, c]|·(flushed dL/ds2), at its largest h."""
    out: Array = 1 + m.w2.sum(axis=2).max(axis=1, initial=0.0)
    return out


def floor_do1(m: Magnitudes) -> Array:
    """dL/do1 and dL/ds1: C flushed terms of dL/ds2 through w2."""
    return _do1(m)


def floor_db2(m: Magnitudes) -> Array:
    """dL/db2: a sum of N flushed terms."""
    out: Array = 1 + m.n[:, 0, 0]
    return out


def floor_dw2(m: Magnitudes) -> Array:
    """dL/dw2: N flushed terms, each weighted by an element of o1."""
    out: Array = 1 + m.n[:, 0, 0] * m.abs_ref("o1").max(axis=(1, 2), initial=0.0)
    return out


def floor_db1(m: Magnitudes) -> Array:
    """dL/db1: N terms of dL/ds1's floor."""
    out: Array = 1 + m.n[:, 0, 0] * _do1(m)
    return out


def floor_dx(m: Magnitudes) -> Array:
    """dL/dx: dL/ds1's floor through w1."""
    out: Array = 1 + _do1(m) * m.w1.sum(axis=2).max(axis=1, initial=0.0)
    return out


def floor_dw1(m: Magnitudes) -> Array:
    """dL/dw1: N terms of dL/ds1's floor, each weighted by an element of x."""
    out: Array = 1 + m.n[:, 0, 0] * _do1(m) * m.x.max(axis=(1, 2), initial=0.0)
    return out


# --- second order -----------------------------------------------------------------------------


def _max(a: Array) -> Array:
    out: Array = a.max(axis=(1, 2), initial=0.0)
    return out


@shared
def _floor_dp(m: Magnitudes) -> Array:
    """ṗ: a flushed p loses p·|ṡ2 − ⟨p, ṡ2⟩| ≤ tiny·2 max|ṡ2|."""
    out: Array = 1 + 2 * _max(m.abs_ref("ṡ2"))
    return out


@shared
def _floor_r2(m: Magnitudes) -> Array:
    """R{dL/ds2}: ṗ's floor times σ."""
    out: Array = _floor_dp(m) * (1 + _max(np.abs(m.y.sum(axis=2, keepdims=True))))
    return out


def _through_of(w: str) -> Callable[[Magnitudes], Array]:
    """Σ over the contracted axis of (|w| + |ẇ|), at its largest row: how a floor passes
    through a layer's product and the direction's bilinear term."""

    def weight(m: Magnitudes) -> Array:
        a = getattr(m, w) + m.v[w]
        out: Array = a.sum(axis=2).max(axis=1, initial=0.0)
        return out

    return shared(weight)


_through = {w: _through_of(w) for w in ("w1", "w2")}


@shared
def _floor_do1(m: Magnitudes) -> Array:
    """R{dL/do1} (and R{dL/ds1}): R{dL/ds2}'s floor through w2 and ẇ2."""
    out: Array = 1 + _floor_r2(m) * _through["w2"](m)
    return out


def _per_row(floor: Callable[[Magnitudes], Array],
             weight: Callable[[Magnitudes], Array]) -> Callable[[Magnitudes], Array]:  # fmt: skip
    """A sum over the N examples of ``floor``, each weighted by ``weight`` (a weight or bias
    gradient); with ``weight`` 1 for a bias."""

    def floor_of(m: Magnitudes) -> Array:
        out: Array = 1 + m.n[:, 0, 0] * floor(m) * weight(m)
        return out

    return floor_of


def _floor_dloss(m: Magnitudes) -> Array:
    """L̇: flushed elements of dL/ds2 (each at most σ + 1 smallest normals), each times ṡ2."""
    sigma = np.abs(m.y.sum(axis=2, keepdims=True))
    out: Array = 1 + ((1 + sigma) * m.abs_ref("ṡ2")).sum(axis=(1, 2))
    return out


@shared
def _o1_weight(m: Magnitudes) -> Array:
    """1 + the largest weight, |o1| + |ȯ1|, of R{dL/dw2}'s N terms."""
    out: Array = 1 + _max(m.abs_ref("o1") + m.abs_ref("ȯ1"))
    return out


@shared
def _x_weight(m: Magnitudes) -> Array:
    """1 + the largest weight, |x| + |ẋ|, of R{dL/dw1}'s N terms."""
    out: Array = 1 + _max(m.x + m.v["x"])
    return out


@shared
def _dx_floor(m: Magnitudes) -> Array:
    """R{dL/dx}: R{dL/ds1}'s floor through w1 and ẇ1."""
    out: Array = 1 + _floor_do1(m) * _through["w1"](m)
    return out


def _pass_floors(letter: str) -> dict[str, Callable[[Magnitudes], Array]]:
    """The floors of one backward pass (R: Hv's, G: Gv's); they share them, since Gv's
    pass reads a subset of the R-pass's factors."""
    floors = {"dL/ds2": _floor_r2, "dL/do1": _floor_do1, "dL/dw2": _per_row(_floor_r2, _o1_weight),
              "dL/db2": _per_row(_floor_r2, floor_one), "dL/ds1": _floor_do1, "dL/dx": _dx_floor,
              "dL/dw1": _per_row(_floor_do1, _x_weight), "dL/db1": _per_row(_floor_do1, floor_one)}  # fmt: skip
    return {f"{letter}{{{key}}}": floor for key, floor in floors.items()}


SECOND_ORDER: dict[str, Callable[[Magnitudes], Array]] = {
    "ṡ1": floor_one,
    "ȯ1": floor_one,
    "ṡ2": floor_one,
    "ṗ": _floor_dp,
    "L̇": _floor_dloss,
    **_pass_floors("R"),
    **_pass_floors("G"),
}
"""Each second-order quantity's flush-to-zero floor (the R and G passes share theirs: the
Gv pass reads a subset of the same factors)."""
