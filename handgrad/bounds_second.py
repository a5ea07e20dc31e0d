"""The tolerance rule carried through second order: a bound for every tangent, every R{·}
of Hv's R-pass and every G{·} of Gv's pass (formulas in ``docs/second-order.md``).

The rule is the first-order one (:mod:`handgrad.bounds`), applied to the product rule:
each tangent and each R{·} is a sum of bilinear terms a·b, and each term carries

* the error already in a, through |b|, and the error in b, through |a|, by root-sum-square
  (``rss``), since they are independent;
* ε·√k of rounding for the k products of the accumulation, the terms of a sum counted
  together (ẋ·w1 + x·ẇ1 is one accumulation of 2D products).

The direction is exact (both sides are handed the same arrays). Near the ReLU kink the mask
may flip, as in first order: ȯ1, R{dL/ds1} and G{dL/ds1} may then differ by all of the
value the mask passes, and that propagates through the bounds that read them. A tangent of
the softmax is p ⊙ (ṡ2 − ⟨p, ṡ2⟩); its bound counts the rounding of both ṡ2 and ⟨p, ṡ2⟩
at their own size, since the difference may cancel (|ṡ2| in the thousands in the "large"
kind) and either side may compute it as p ⊙ ṡ2 − p ⊙ ⟨p, ṡ2⟩.

The flush-to-zero floors that go with them are in :mod:`handgrad.floors`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from handgrad.bounds import (
    SAFETY,
    Array,
    Magnitudes,
    T,
    _bias_gradient,
    _input_gradient,
    _weight_gradient,
    rss,
    rss_rows,
)

Terms = Sequence[tuple[Array, Array | None, Array, Array | None]]
"""Bilinear terms (|a|, e(a), |b|, e(b)) of one accumulation; None: exact."""


def _products(m: Magnitudes, terms: Terms, k: Array, bias: Array | None = None) -> Array:
    """Σ a·b over ``terms``, each of contraction length ``k``, plus an exact ``bias`` row:
    rss of each factor's error through the other, plus ε·√(k·terms + 1) of rounding on
    Σ|a|·|b| + |bias|."""
    magnitude = sum(a @ b for a, _, b, _ in terms)
    if bias is not None:
        magnitude = magnitude + bias
    out: Array = m.acc(k * len(terms) + (bias is not None)) * magnitude
    for a, e_a, b, e_b in terms:
        if e_a is not None:
            out += rss(e_a, b, k)
        if e_b is not None:
            out += rss(a, e_b, k)
    return out


def _masked(m: Magnitudes, before: str) -> Array:
    """[s1 > 0] ⊙ (a value with the bound of ``before``): exact away from the kink; within
    ρ·e(s1) of it the mask may flip, so the whole value is allowed there."""
    s1 = m.ref["s1"]
    e = m.resolve(before)
    near_kink = np.abs(s1) < SAFETY * m.resolve("s1")
    out: Array = np.where(near_kink, m.abs_ref(before) + e, np.where(s1 > 0, e, 0.0))
    return out


# --- forward mode --------------------------------------------------------------------------


def bound_ds1(m: Magnitudes) -> Array:
    """ṡ1 = ẋ·w1 + x·ẇ1 + ḃ1: one accumulation of 2D + 1 exact products."""
    return _products(m, [(m.x, None, m.v["w1"], None), (m.v["x"], None, m.w1, None)], m.d,
                     m.v["b1"])  # fmt: skip


def bound_do1(m: Magnitudes) -> Array:
    """ȯ1 = [s1 > 0] ⊙ ṡ1."""
    return _masked(m, "ṡ1")


def bound_ds2(m: Magnitudes) -> Array:
    """ṡ2 = ȯ1·w2 + o1·ẇ2 + ḃ2: errors of ȯ1 and o1 through w2 and ẇ2, 2H + 1 terms."""
    terms = [(m.abs_ref("ȯ1"), m.resolve("ȯ1"), m.w2, None),
             (m.abs_ref("o1"), m.resolve("o1"), m.v["w2"], None)]  # fmt: skip
    return _products(m, terms, m.h, m.v["b2"])


def _inner(m: Magnitudes) -> tuple[Array, Array]:
    """(⟨p, ṡ2⟩, its bound) per row, B×N×1: C products. The errors of one row add: p's
    share its log-sum-exp, ṡ2's share the row of ȯ1 and o1 they come from."""
    p, ds2 = m.ref["p"], m.abs_ref("ṡ2")
    value = (p * m.ref["ṡ2"]).sum(axis=2, keepdims=True)
    bound = (m.resolve("p") * ds2 + p * m.resolve("ṡ2")).sum(axis=2, keepdims=True)
    bound += m.acc(m.c) * (p * ds2).sum(axis=2, keepdims=True)
    return value, bound


def bound_dp(m: Magnitudes) -> Array:
    """ṗ = p ⊙ d, d = ṡ2 − ⟨p, ṡ2⟩: p's relative error on |d|, and d's own error (ṡ2's,
    ⟨p, ṡ2⟩'s, and the subtraction's rounding at the size of each side) times p."""
    inner, e_inner = _inner(m)
    ds2 = m.ref["ṡ2"]
    e_difference = m.resolve("ṡ2") + e_inner + m.eps * (np.abs(ds2) + np.abs(inner))
    out: Array = m.resolve("p") * np.abs(ds2 - inner) + m.ref["p"] * e_difference
    out += 2 * m.eps * m.abs_ref("ṗ")
    return out


def bound_dloss(m: Magnitudes) -> Array:
    """L̇ = ⟨dL/ds2, ṡ2⟩ = κ Σ (σ⟨p, ṡ2⟩ − ⟨y, ṡ2⟩): the errors of dL/ds2 and ṡ2 through
    each other, added along a row and by root-sum-square across rows, as in every
    contraction over N; and N·C terms of rounding at the size of both halves, which may
    cancel."""
    g2, ds2 = m.abs_ref("dL/ds2"), m.abs_ref("ṡ2")
    sigma = np.abs(m.y.sum(axis=2, keepdims=True))
    halves = m.scale * (sigma * m.ref["p"] + np.abs(m.y)) * ds2
    # A row's errors add (dL/ds2's share its log-sum-exp, ṡ2's its row of ȯ1 and o1);
    # different rows' are independent.
    rows = (m.resolve("dL/ds2") * ds2 + g2 * m.resolve("ṡ2")).sum(axis=2, keepdims=True)
    out: Array = rss_rows(rows, m.n)[:, 0]
    out += m.acc(m.n[:, 0, 0] * m.c[:, 0, 0]) * halves.sum(axis=(1, 2))
    return out


# --- the R-pass (Hv) and Gv's pass ----------------------------------------------------------


def _bound_r2(name: str) -> Callable[[Magnitudes], Array]:
    def bound(m: Magnitudes) -> Array:
        """R{dL/ds2} = G{dL/ds2} = κ σ ⊙ ṗ: like dL/ds2 = κ(σ p − y), with ṗ for p."""
        sigma = np.abs(m.y.sum(axis=2, keepdims=True))
        yabs = np.abs(m.y).sum(axis=2, keepdims=True)
        dp = m.abs_ref("ṗ")
        out: Array = m.scale * (m.resolve("ṗ") * sigma + (m.acc(m.c) * yabs + m.eps * sigma) * dp)
        out += 2 * m.eps * m.abs_ref(name)
        return out

    return bound


def bound_r_do1(m: Magnitudes) -> Array:
    """R{dL/do1} = R{dL/ds2}·w2ᵀ + dL/ds2·ẇ2ᵀ: 2C terms."""
    terms = [(m.abs_ref("R{dL/ds2}"), m.resolve("R{dL/ds2}"), T(m.w2), None),
             (m.abs_ref("dL/ds2"), m.resolve("dL/ds2"), T(m.v["w2"]), None)]  # fmt: skip
    return _products(m, terms, m.c)


def bound_r_dw2(m: Magnitudes) -> Array:
    """R{dL/dw2} = ȯ1ᵀ·dL/ds2 + o1ᵀ·R{dL/ds2}: 2N terms, errors in every factor."""
    terms = [(T(m.abs_ref("ȯ1")), T(m.resolve("ȯ1")), m.abs_ref("dL/ds2"), m.resolve("dL/ds2")),
             (T(m.abs_ref("o1")), T(m.resolve("o1")), m.abs_ref("R{dL/ds2}"),
              m.resolve("R{dL/ds2}"))]  # fmt: skip
    return _products(m, terms, m.n)


def bound_r_dx(m: Magnitudes) -> Array:
    """R{dL/dx} = R{dL/ds1}·w1ᵀ + dL/ds1·ẇ1ᵀ: 2H terms."""
    terms = [(m.abs_ref("R{dL/ds1}"), m.resolve("R{dL/ds1}"), T(m.w1), None),
             (m.abs_ref("dL/ds1"), m.resolve("dL/ds1"), T(m.v["w1"]), None)]  # fmt: skip
    return _products(m, terms, m.h)


def bound_r_dw1(m: Magnitudes) -> Array:
    """R{dL/dw1} = xᵀ·R{dL/ds1} + ẋᵀ·dL/ds1: 2N terms (x and ẋ exact)."""
    terms = [(T(m.x), None, m.abs_ref("R{dL/ds1}"), m.resolve("R{dL/ds1}")),
             (T(m.v["x"]), None, m.abs_ref("dL/ds1"), m.resolve("dL/ds1"))]  # fmt: skip
    return _products(m, terms, m.n)


BOUNDS: dict[str, Callable[[Magnitudes], Array]] = {
    "ṡ1": bound_ds1,
    "ȯ1": bound_do1,
    "ṡ2": bound_ds2,
    "ṗ": bound_dp,
    "L̇": bound_dloss,
    "R{dL/ds2}": _bound_r2("R{dL/ds2}"),
    "R{dL/do1}": bound_r_do1,
    "R{dL/dw2}": bound_r_dw2,
    "R{dL/db2}": lambda m: _bias_gradient(m, "R{dL/ds2}"),
    "R{dL/ds1}": lambda m: _masked(m, "R{dL/do1}"),
    "R{dL/dx}": bound_r_dx,
    "R{dL/dw1}": bound_r_dw1,
    "R{dL/db1}": lambda m: _bias_gradient(m, "R{dL/ds1}"),
    # Gv's pass is the first-order backward pass with G{dL/ds2} for dL/ds2.
    "G{dL/ds2}": _bound_r2("G{dL/ds2}"),
    "G{dL/do1}": lambda m: _input_gradient(m, "G{dL/ds2}", m.w2, m.c),
    "G{dL/dw2}": lambda m: _weight_gradient(m, m.abs_ref("o1"), m.resolve("o1"), "G{dL/ds2}"),
    "G{dL/db2}": lambda m: _bias_gradient(m, "G{dL/ds2}"),
    "G{dL/ds1}": lambda m: _masked(m, "G{dL/do1}"),
    "G{dL/dx}": lambda m: _input_gradient(m, "G{dL/ds1}", m.w1, m.h),
    "G{dL/dw1}": lambda m: _weight_gradient(m, m.x, None, "G{dL/ds1}"),
    "G{dL/db1}": lambda m: _bias_gradient(m, "G{dL/ds1}"),
}
"""Each second-order quantity's bound, by its registry name."""
