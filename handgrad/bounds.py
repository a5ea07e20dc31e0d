"""The tolerance rule's formulas: a first-order rounding-error bound for every quantity.

Each ``bound_*`` function gives, per element, how far a correct implementation may differ
from autograd, before the safety factor ρ. The rule:

* A length-k accumulation Σ aᵢbᵢ carries rounding error ≲ ε·√k·Σ|aᵢ||bᵢ| (round-off is
  unbiased, so √k rather than the worst case k; ρ covers the tail).
* Errors already in an operand propagate through a product as independent errors do, by
  root-sum-square (``rss``). Within a softmax row they share the log-sum-exp, so they add
  linearly there: an absolute error in s2 becomes a relative error in p.
* Where |s1| is within ρ·e(s1) of the ReLU kink, a correct implementation may see the other
  side of it: dL/ds1 may differ by all of |dL/do1| there, and that propagates into dL/dx,
  dL/dw1 and dL/db1. Exact zeros of s1 have e(s1) = 0, so [s1 > 0] must hold exactly.
* Both sides round, so every bound counts ε twice (ε, not ε/2).

The flush-to-zero floors that go with them are in :mod:`handgrad.floors`.

Every array here is float64 with a leading batch axis B, and zero wherever a case is
padded: zeros add nothing to a sum and never win a maximum of magnitudes, so one padded
batch gives each case exactly its own bound. True sizes enter as per-case arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

SAFETY = 8.0
"""ρ: the tolerance is ρ times the rounding-error bound (plus the flush-to-zero floor)."""


@dataclass
class Magnitudes:
    """What the bounds are made of, for a batch of B cases.

    ``x`` … ``b2`` are |inputs| (biases as B×1×H and B×1×C rows), ``y`` the target matrix,
    ``ref`` the reference's values, all padded with zeros; ``n`` … ``c`` the true sizes as
    B×1×1 arrays; ``scale`` is 1/N for reduction="mean" and 1 for "sum"; ``classes`` marks
    the true classes (B×1×C). ``resolve(name)`` gives another quantity's bound, already
    zeroed in the padding, so each formula can use the ones before it.
    """

    eps: float
    x: Array
    w1: Array
    b1: Array
    w2: Array
    b2: Array
    y: Array
    ref: dict[str, Array]
    n: Array
    d: Array
    h: Array
    c: Array
    scale: Array
    classes: NDArray[np.bool_]
    formulas: Mapping[str, Callable[[Magnitudes], Array]] = field(repr=False)
    """Each quantity's bound formula (the registry's ``bound``)."""
    mask: Callable[[str], NDArray[np.bool_]] = field(repr=False)
    """Each quantity's true elements in the batch."""
    v: dict[str, Array] = field(default_factory=dict)
    """|direction| of the second-order products, keyed like the inputs it moves (x, w1, b1,
    w2, b2; biases as rows, ẋ zero where x is held fixed); empty without them."""
    _bounds: dict[str, Array] = field(default_factory=dict, repr=False)
    _abs: dict[str, Array] = field(default_factory=dict, repr=False)
    _shared: dict[Callable[[Magnitudes], Array], Array] = field(default_factory=dict, repr=False)
    """Sub-expressions that several floors read, once per batch (``floors.shared``)."""

    def resolve(self, name: str) -> Array:
        """Quantity ``name``'s bound, zero in the padding; each computed once. (A method,
        not a closure: a closure over this object would make a reference cycle that keeps
        a whole batch's arrays alive until the garbage collector runs.)"""
        if name not in self._bounds:
            bound = self.formulas[name](self)
            bound *= self.mask(name)
            self._bounds[name] = bound
        return self._bounds[name]

    def acc(self, k: Array) -> Array:
        """ε·√k: the relative rounding error of a length-k accumulation."""
        out: Array = self.eps * np.sqrt(k)
        return out

    @cached_property
    def lse(self) -> Array:
        """log Σ_c exp(s2), B×N×1, over the true classes only."""
        s2 = np.where(self.classes, self.ref["s2"], -np.inf)
        m = s2.max(axis=2, keepdims=True)
        m[~np.isfinite(m)] = 0.0
        out: Array = np.log(np.exp(s2 - m).sum(axis=2, keepdims=True)) + m
        return out

    @cached_property
    def logp(self) -> Array:
        """|log p| = |s2 − lse|."""
        out: Array = np.abs(self.ref["s2"] - self.lse)
        return out

    @cached_property
    def e_logp(self) -> Array:
        """Bound on the error of log p: the error of s2 plus that of the row's lse."""
        s2, p, eps = self.ref["s2"], self.ref["p"], self.eps
        e_s2 = self.resolve("s2")
        e_lse = (p * e_s2).sum(axis=2, keepdims=True) + eps * (
            np.abs(s2).max(axis=2, keepdims=True) + np.abs(self.lse) + np.sqrt(self.c) + 1
        )
        out: Array = e_s2 + e_lse + eps * (np.abs(s2) + np.abs(self.lse))
        return out

    def abs_ref(self, name: str) -> Array:
        """|reference value|, computed once per quantity (the bounds share them)."""
        if name not in self._abs:
            self._abs[name] = np.abs(self.ref[name])
        return self._abs[name]


def T(a: Array) -> Array:
    """Transpose the last two axes (the batch axis stays first)."""
    return np.swapaxes(a, -1, -2)


_LEAST_SCALE = 1e-300
"""The least scale of a row in ``rss``: the reciprocal of any smaller one overflows."""


def rss(a: Array, b: Array, k: Array) -> Array:
    """√(a²·b²) for non-negative B×M×K a and B×K×P b, with true contraction length ``k``.

    Squares of tiny bounds (p ~ 1e-260 in float64) underflow, even scaled by the row and
    column maxima. Cauchy-Schwarz gives √(a²·b²) ≥ (a·b)/√k, which cannot underflow, so the
    larger of the two is the same bound wherever squaring was exact and a sound one where
    it was not. (Testing first whether any square underflowed, to skip a·b, cost more than
    a·b: by cProfile over 1,000 random cases, 0.28 s for the test against 0.20 s for the
    product and its maximum.)
    """
    # Scales are applied as reciprocals (one division per row or column, not per
    # element); below 1e-300 a row's scale is 1e-300, so no reciprocal overflows and no
    # scaled element exceeds 1.
    sa = np.maximum(a.max(axis=2, keepdims=True), _LEAST_SCALE)
    sb = np.maximum(b.max(axis=1, keepdims=True), _LEAST_SCALE)
    a2 = a * (1.0 / sa)
    a2 *= a2
    b2 = b * (1.0 / sb)
    b2 *= b2
    out: Array = a2 @ b2
    np.sqrt(out, out=out)
    out *= sa
    out *= sb
    floor = a @ b
    floor *= 1.0 / np.sqrt(np.maximum(k, 1.0))
    np.maximum(out, floor, out=out)
    return out


def rss_rows(a: Array, n: Array) -> Array:
    """√(Σ_n a[n]²) per column of a B×N×P array, the bias-gradient analogue of ``rss``."""
    sb = a.max(axis=1, keepdims=True)
    sb[sb == 0] = 1.0
    squared = np.sqrt(((a / sb) ** 2).sum(axis=1)) * sb[:, 0]
    out: Array = np.maximum(squared, a.sum(axis=1) / np.sqrt(np.maximum(n[:, 0], 1.0)))
    return out


# --- forward ------------------------------------------------------------------------------


def bound_s1(m: Magnitudes) -> Array:
    """s1 = x·w1 + b1: one accumulation of D + 1 terms."""
    out: Array = m.acc(m.d + 1) * (m.x @ m.w1 + m.b1)
    return out


def bound_o1(m: Magnitudes) -> Array:
    """o1 = ReLU(s1) adds no rounding of its own."""
    return m.resolve("s1")


def bound_s2(m: Magnitudes) -> Array:
    """s2 = o1·w2 + b2: o1's error carried through w2, plus H + 1 terms of rounding."""
    o1 = m.abs_ref("o1")
    out: Array = rss(m.resolve("o1"), m.w2, m.h) + m.acc(m.h + 1) * (o1 @ m.w2 + m.b2)
    return out


def bound_p(m: Magnitudes) -> Array:
    """p = exp(log p): the error of log p becomes a relative error of p."""
    out: Array = m.ref["p"] * m.e_logp
    return out


def bound_loss(m: Magnitudes) -> Array:
    """L = −Σ y·log p (÷N for "mean"): per row C terms, then N rows."""
    y = np.abs(m.y)
    weighted = y * m.logp
    rows = (y * m.e_logp).sum(axis=2) + m.acc(m.c[:, 0]) * weighted.sum(axis=2)
    total = rows.sum(axis=1) + m.acc(m.n[:, 0, 0]) * weighted.sum(axis=(1, 2))
    out: Array = m.scale[:, 0, 0] * total
    return out


# --- backward ------------------------------------------------------------------------------


def bound_ds2(m: Magnitudes) -> Array:
    """dL/ds2 = p·Σ_c y_c − y (÷N): Σy rounds like any sum, the product and the difference
    once each."""
    p, eps = m.ref["p"], m.eps
    ysum = np.abs(m.y.sum(axis=2, keepdims=True))
    yabs = np.abs(m.y).sum(axis=2, keepdims=True)
    out: Array = m.scale * (m.resolve("p") * ysum + (m.acc(m.c) * yabs + eps * ysum) * p)
    out += 2 * eps * m.abs_ref("dL/ds2")
    return out


def _input_gradient(m: Magnitudes, ds: str, w: Array, k: Array) -> Array:
    """dL/d(input) = ds·wᵀ (``grad_input``): ds's error through w, and k terms of rounding."""
    out: Array = rss(m.resolve(ds), T(w), k) + m.acc(k) * (m.abs_ref(ds) @ T(w))
    return out


def _weight_gradient(m: Magnitudes, inputs: Array, e_inputs: Array | None, ds: str) -> Array:
    """dL/dw = inputsᵀ·ds (``grad_weight``): N terms, with errors from both factors (the
    inputs x of the first layer are exact: ``e_inputs`` None)."""
    out: Array = rss(T(inputs), m.resolve(ds), m.n) + m.acc(m.n) * (T(inputs) @ m.abs_ref(ds))
    if e_inputs is not None:
        out += rss(T(e_inputs), m.abs_ref(ds), m.n)
    return out


def _bias_gradient(m: Magnitudes, ds: str) -> Array:
    """dL/db = Σ_n ds (``grad_b``): N terms."""
    out: Array = rss_rows(m.resolve(ds), m.n) + m.acc(m.n[:, 0]) * m.abs_ref(ds).sum(axis=1)
    return out


def bound_do1(m: Magnitudes) -> Array:
    """dL/do1 = dL/ds2·w2ᵀ: C terms."""
    return _input_gradient(m, "dL/ds2", m.w2, m.c)


def bound_ds1(m: Magnitudes) -> Array:
    """dL/ds1 = dL/do1 ⊙ [s1 > 0]: exact, except that near the kink the mask may flip."""
    s1 = m.ref["s1"]
    e_do1 = m.resolve("dL/do1")
    near_kink = np.abs(s1) < SAFETY * m.resolve("s1")
    out: Array = np.where(near_kink, m.abs_ref("dL/do1") + e_do1, np.where(s1 > 0, e_do1, 0.0))
    return out


def bound_dw2(m: Magnitudes) -> Array:
    """dL/dw2 = o1ᵀ·dL/ds2."""
    return _weight_gradient(m, m.abs_ref("o1"), m.resolve("o1"), "dL/ds2")


def bound_db2(m: Magnitudes) -> Array:
    """dL/db2 = Σ_n dL/ds2."""
    return _bias_gradient(m, "dL/ds2")


def bound_dx(m: Magnitudes) -> Array:
    """dL/dx = dL/ds1·w1ᵀ: H terms."""
    return _input_gradient(m, "dL/ds1", m.w1, m.h)


def bound_dw1(m: Magnitudes) -> Array:
    """dL/dw1 = xᵀ·dL/ds1 (x is exact)."""
    return _weight_gradient(m, m.x, None, "dL/ds1")


def bound_db1(m: Magnitudes) -> Array:
    """dL/db1 = Σ_n dL/ds1."""
    return _bias_gradient(m, "dL/ds1")


def bound_jacobian(m: Magnitudes) -> Array:
    """dp/ds2 = diag(p) − p pᵀ, from p and its bound (see ``jacobian_bound``)."""
    return jacobian_bound(m.ref["p"], m.resolve("p"), m.eps)


def jacobian_bound(p: Array, e_p: Array, eps: float, factor: float = 1.0, xp: Any = np) -> Array:
    """factor × (e_p ⊗ p + p ⊗ e_p + ε p ⊗ p, plus e_p + ε p on the diagonal), for any
    leading axes: ε p ⊗ p is folded into the two outer products, and ``factor`` (ρ, for
    the engine's chunks) is applied to the vectors, not to the C×C result. Written against
    the array API (``xp``: NumPy, or jax.numpy inside the Jacobian stage's program)."""
    half = factor * (e_p + 0.5 * eps * p)
    outer = half[..., :, None] * p[..., None, :] + p[..., :, None] * half[..., None, :]
    diagonal = factor * (e_p + eps * p)
    out: Array = outer + xp.eye(p.shape[-1], dtype=outer.dtype) * diagonal[..., None, :]
    return out
