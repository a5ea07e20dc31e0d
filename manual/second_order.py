"""Second order by hand: the forward-mode tangents (JVP), the Hessian-vector product Hv and
the generalised Gauss-Newton product Gv of the same network and loss.

A direction is Params-shaped, ``v = Params(w1=ẇ1, b1=ḃ1, w2=ẇ2, b2=ḃ2)``, plus an optional
``dx`` (ẋ, N×D; None: x is held fixed). Every formula is one small function below, with
its shapes; ``docs/second-order.md`` derives them. With κ = 1/N for "mean" (1 for "sum"),
σ_n = Σ_c y_nc (1 for labels), g2 = dL/ds2 = κ(σ ⊙ p − y) and the mask m = [s1 > 0]:

    ṡ1 = ẋ·w1 + x·ẇ1 + ḃ1     ȯ1 = m ⊙ ṡ1     ṡ2 = ȯ1·w2 + o1·ẇ2 + ḃ2
    ṗ = p ⊙ (ṡ2 − ⟨p, ṡ2⟩)     L̇ = ⟨g2, ṡ2⟩
    R{g2} = κ σ ⊙ ṗ = H_s2·ṡ2, then back through the layers; Hv adds the bilinear terms
    (g2·ẇ2ᵀ, ȯ1ᵀ·g2, dL/ds1·ẇ1ᵀ, ẋᵀ·dL/ds1) that Gv leaves out.

``hvp`` and ``ggn_vp`` return a :class:`~manual.network.Gradients` whose field <name>
holds the product's value at dL/d<name>: R{dL/d<name>} for Hv (the parameters' and x's
fields are Hv itself), and the backward pass of H_s2·ṡ2 for Gv (its parameters' and x's
fields are Gv).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validate as check
from .network import (
    Array,
    Forward,
    Gradients,
    Labels,
    Params,
    _backprop,
    _check_x,
    _forward,
    _scale,
    grad_b,
    grad_input,
    grad_s1,
    grad_s2,
    grad_weight,
    relu_mask,
)

__all__ = [
    "Tangents",
    "ggn_vp",
    "hvp",
    "jvp",
    "r_grad_input",
    "r_grad_s2",
    "r_grad_weight",
    "tangent_affine",
    "tangent_loss",
    "tangent_relu",
    "tangent_softmax",
]


@dataclass(frozen=True)
class Tangents:
    """Forward-mode tangents along a direction: ṡ1, ȯ1 (N×H), ṡ2, ṗ (N×C) and L̇ (scalar)."""

    s1: Array
    o1: Array
    s2: Array
    p: Array
    loss: np.floating[Any]


# --- forward mode: each layer's tangent --------------------------------------------------


def tangent_affine(x: Array, dx: Array | None, w: Array, dw: Array, db: Array) -> Array:
    """ṡ = ẋ·w + x·ẇ + ḃ for s = x·w + b (the product rule; ẋ None: x fixed).
    x, ẋ: N×K, w, ẇ: K×M, ḃ: (M,) → N×M."""
    ds = x @ dw
    if dx is not None:
        ds += dx @ w
    ds += db
    return ds


def tangent_relu(ds1: Array, s1: Array) -> Array:
    """ȯ1 = [s1 > 0] ⊙ ṡ1, the mask taken as 0 at exactly s1 = 0 (as the frameworks do).
    N×H, N×H → N×H."""
    do1: Array = ds1 * relu_mask(s1)
    return do1


def tangent_softmax(p: Array, ds2: Array) -> Array:
    """ṗ = J(p)·ṡ2 = p ⊙ (ṡ2 − ⟨p, ṡ2⟩) per row, J = diag(p) − p pᵀ.   N×C, N×C → N×C.

    The Jacobian's product row by row in O(C), never the N×C×C array itself.
    """
    inner = np.add.reduce(p * ds2, axis=1, keepdims=True)
    dp: Array = p * (ds2 - inner)
    return dp


def _target_sums(y: Array | Labels) -> Array | None:
    """σ = Σ_c y_c per row (N×1) for float targets; None for labels, whose σ is 1."""
    if y.dtype.kind == "f":
        sums: Array = np.add.reduce(y, axis=1, keepdims=True)
        return sums
    return None


def tangent_loss(p: Array, ds2: Array, y: Array | Labels, reduction: str) -> np.floating[Any]:
    """L̇ = ⟨dL/ds2, ṡ2⟩ = κ Σ_n (σ_n ⟨p_n, ṡ2_n⟩ − ⟨y_n, ṡ2_n⟩).   N×C, N×C → scalar.

    For labels ⟨y_n, ṡ2_n⟩ is ṡ2[n, y_n]: no one-hot matrix.
    """
    N = p.shape[0]
    inner = np.add.reduce(p * ds2, axis=1)
    sums = _target_sums(y)
    if sums is not None:
        total = np.vdot(sums[:, 0], inner) - np.vdot(y, ds2)
    else:
        total = np.add.reduce(inner - ds2[np.arange(N), y])
    return p.dtype.type(total * _scale(N, reduction))


# --- the R-pass: each gradient's directional derivative ----------------------------------


def r_grad_s2(dp: Array, y: Array | Labels, reduction: str) -> Array:
    """R{dL/ds2} = κ σ ⊙ ṗ = H_s2·ṡ2, H_s2 = κ σ_n (diag(p_n) − p_n p_nᵀ) per row.
    N×C → N×C.

    y does not move with the direction, so only p·σ does; σ is 1 for labels and for soft
    targets, anything non-negative for unnormalised ones.
    """
    sums = _target_sums(y)
    r2 = dp * sums if sums is not None else dp.copy()
    scale = _scale(dp.shape[0], reduction)
    if scale != 1.0:
        r2 *= dp.dtype.type(scale)
    return r2


def r_grad_input(r_ds: Array, w: Array, ds: Array, dw: Array) -> Array:
    """R{dL/dx} = R{dL/ds}·wᵀ + dL/ds·ẇᵀ for dL/dx = dL/ds·wᵀ (the product rule).
    N×M, K×M, N×M, K×M → N×K.

    The second term is bilinear: it is what Gv leaves out. R{dL/do1} and R{dL/dx}.
    """
    out = grad_input(r_ds, w)
    out += grad_input(ds, dw)
    return out


def r_grad_weight(x: Array, r_ds: Array, dx: Array | None, ds: Array) -> Array:
    """R{dL/dw} = ẋᵀ·dL/ds + xᵀ·R{dL/ds} for dL/dw = xᵀ·dL/ds (ẋ None: x fixed).
    N×K, N×M, N×K, N×M → K×M.

    The first term is bilinear: Gv leaves it out. R{dL/dw2} (with ȯ1) and R{dL/dw1}.
    """
    out = grad_weight(x, r_ds)
    if dx is not None:
        out += grad_weight(dx, ds)
    return out


# --- the products -----------------------------------------------------------------------------


def _check_direction(x: Array, params: Params, v: Any, dx: Any) -> None:
    if not isinstance(v, Params):
        raise TypeError(f"v: expected manual.Params (the direction), got {type(v).__name__}")
    for name in ("w1", "b1", "w2", "b2"):
        got, want = getattr(v, name), getattr(params, name)
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(f"v.{name}: expected a {want.dtype} array of shape {want.shape} "
                             f"like params.{name}, got {got.dtype} {got.shape}")  # fmt: skip
    if dx is not None:
        check.float_array("dx", dx, 2)
        if dx.shape != x.shape or dx.dtype != x.dtype:
            raise ValueError(f"dx: expected a {x.dtype} array of shape {x.shape} like x, "
                             f"got {dx.dtype} {dx.shape}")  # fmt: skip


def _checked(x: Any, y: Any, params: Params, v: Any, dx: Any,
             reduction: str) -> tuple[Array | Labels, str]:  # fmt: skip
    _check_x(x, params)
    y = check.targets(y, x.shape[0], params.w2.shape[1], x.dtype)
    _check_direction(x, params, v, dx)
    return y, check.reduction(reduction)


def _tangents(x: Array, dx: Array | None, params: Params, v: Params,
              fwd: Forward) -> tuple[Array, Array, Array, Array]:  # fmt: skip
    """ṡ1, ȯ1, ṡ2 and ṗ on checked inputs, in the order of the forward pass."""
    ds1 = tangent_affine(x, dx, params.w1, v.w1, v.b1)
    do1 = tangent_relu(ds1, fwd.s1)
    ds2 = tangent_affine(fwd.o1, do1, params.w2, v.w2, v.b2)
    return ds1, do1, ds2, tangent_softmax(fwd.p, ds2)


def jvp(x: Array, y: Array | Labels, params: Params, v: Params, dx: Array | None = None,
        reduction: str = "mean") -> Tangents:  # fmt: skip
    """Forward mode: the tangent of every forward quantity and of L along (ẋ, v)."""
    y, reduction = _checked(x, y, params, v, dx, reduction)
    fwd, _ = _forward(x, params)
    ds1, do1, ds2, dp = _tangents(x, dx, params, v, fwd)
    return Tangents(s1=ds1, o1=do1, s2=ds2, p=dp, loss=tangent_loss(fwd.p, ds2, y, reduction))


def hvp(x: Array, y: Array | Labels, params: Params, v: Params, dx: Array | None = None,
        reduction: str = "mean") -> Gradients:  # fmt: skip
    """Hv by the R-operator: R{·} of every gradient along (ẋ, v), in backward order.
    The fields x, w1, b1, w2 and b2 are the Hessian of L in (x, w1, b1, w2, b2) times
    (ẋ, ẇ1, ḃ1, ẇ2, ḃ2); s2, o1 and s1 are the R-pass's intermediates."""
    y, reduction = _checked(x, y, params, v, dx, reduction)
    fwd, _ = _forward(x, params)
    _, do1, _, dp = _tangents(x, dx, params, v, fwd)
    g2 = grad_s2(fwd.p, y, reduction)
    gs1 = grad_s1(grad_input(g2, params.w2), fwd.s1)
    r2 = r_grad_s2(dp, y, reduction)
    ro1 = r_grad_input(r2, params.w2, g2, v.w2)
    rs1 = grad_s1(ro1, fwd.s1)  # the mask is piecewise constant: R{m} = 0
    return Gradients(s2=r2, o1=ro1, w2=r_grad_weight(fwd.o1, r2, do1, g2), b2=grad_b(r2),
                     s1=rs1, x=r_grad_input(rs1, params.w1, gs1, v.w1),
                     w1=r_grad_weight(x, rs1, dx, gs1), b1=grad_b(rs1))  # fmt: skip


def ggn_vp(x: Array, y: Array | Labels, params: Params, v: Params, dx: Array | None = None,
           reduction: str = "mean") -> Gradients:  # fmt: skip
    """Gv = Jᵀ·H_s2·J·v, J = ds2/d(x, w1, b1, w2, b2): ṡ2 = J·v forward, H_s2·ṡ2 = R{dL/ds2},
    then the ordinary backward pass of that in place of dL/ds2. The fields are as in
    ``hvp``, without its bilinear terms."""
    y, reduction = _checked(x, y, params, v, dx, reduction)
    fwd, _ = _forward(x, params)
    _, _, _, dp = _tangents(x, dx, params, v, fwd)
    return _backprop(x, params, fwd, r_grad_s2(dp, y, reduction))
