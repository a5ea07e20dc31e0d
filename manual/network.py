"""The two-layer ReLU network and every gradient of its softmax cross-entropy loss.

Each formula of the derivation (``docs/derivation.md``) is one small function below,
forward and backward side by side, with its shapes:

    x (N×D) → s1 = x·w1 + b1 (N×H) → o1 = ReLU(s1) (N×H)
            → s2 = o1·w2 + b2 (N×C) → p = softmax(s2) (N×C) → L = −Σ y·log p

``forward``, ``cross_entropy`` and ``backward`` check their inputs and compose the
formulas; ``loss_and_gradients`` does all three in one call with one check. The formula
functions themselves trust their inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _validate as check

Array = NDArray[np.floating[Any]]
Labels = NDArray[np.integer[Any]]

__all__ = [
    "Forward",
    "Gradients",
    "Params",
    "affine",
    "backward",
    "cross_entropy",
    "forward",
    "grad_b",
    "grad_input",
    "grad_s1",
    "grad_s2",
    "grad_weight",
    "logsumexp",
    "loss_and_gradients",
    "nll",
    "relu",
    "relu_mask",
    "softmax",
    "softmax_jacobian",
    "softmax_logsumexp",
]


@dataclass(frozen=True)
class Params:
    """The weights: w1 (D×H), b1 (H,), w2 (H×C), b2 (C,), all of one float dtype."""

    w1: Array
    b1: Array
    w2: Array
    b2: Array

    def __post_init__(self) -> None:
        check.float_array("w1", self.w1, 2)
        check.float_array("b1", self.b1, 1)
        check.float_array("w2", self.w2, 2)
        check.float_array("b2", self.b2, 1)
        check.same_dtype("w1", self.w1.dtype, b1=self.b1, w2=self.w2, b2=self.b2)
        H, C = self.w2.shape
        check.dim("w1", self.w1, 1, H, "H, the number of rows of w2")
        check.dim("b1", self.b1, 0, H, "H, the number of columns of w1")
        check.dim("b2", self.b2, 0, C, "C, the number of columns of w2")
        if H == 0 or C == 0 or self.w1.shape[0] == 0:
            raise ValueError(
                f"w1, w2: D, H and C must be at least 1, got shapes "
                f"{self.w1.shape} and {self.w2.shape}"
            )


@dataclass(frozen=True)
class Forward:
    """Intermediates of the forward pass: s1, o1 (N×H), s2, p (N×C)."""

    s1: Array
    o1: Array
    s2: Array
    p: Array


@dataclass(frozen=True)
class Gradients:
    """dL/d<name> for every quantity, each with the shape and dtype of <name>."""

    s2: Array
    o1: Array
    w2: Array
    b2: Array
    s1: Array
    x: Array
    w1: Array
    b1: Array


# --- layers: forward and backward side by side -----------------------------------------


def affine(x: Array, w: Array, b: Array) -> Array:
    """s = x·w + b.   x: N×K, w: K×M, b: (M,) → s: N×M."""
    s = x @ w
    s += b
    return s


def grad_input(ds: Array, w: Array) -> Array:
    """dL/dx = dL/ds·wᵀ for s = x·w + b.   ds: N×M, w: K×M → N×K.

    The derivation's dL/do1 = (p − y)·w2ᵀ and dL/dx = dL/ds1·w1ᵀ.
    """
    return ds @ w.T


def grad_weight(x: Array, ds: Array) -> Array:
    """dL/dw = xᵀ·dL/ds for s = x·w + b.   x: N×K, ds: N×M → K×M.

    The derivation's dL/dw2 = o1ᵀ·(p − y) and dL/dw1 = xᵀ·dL/ds1.
    """
    return x.T @ ds


def grad_b(ds: Array) -> Array:
    """dL/db = Σ_n dL/ds[n, :] for s = x·w + b.   ds: N×M → (M,).

    Left implicit by the derivation: b is added to every row, so its gradient sums them.
    """
    db: Array = ds.sum(axis=0)
    return db


def relu(s1: Array) -> Array:
    """o1 = ReLU(s1) = max(s1, 0) = s1 ⊙ [s1 > 0].   N×H → N×H."""
    # np.maximum, not np.where(s1 > 0, s1, 0): the same values, ~15× faster on random signs.
    o1: Array = np.maximum(s1, 0)
    return o1


def relu_mask(s1: Array) -> NDArray[np.bool_]:
    """do1/ds1 = [s1 > 0], taken as 0 at exactly s1 = 0 (as torch.relu and jax.nn.relu do)."""
    return s1 > 0


def grad_s1(do1: Array, s1: Array) -> Array:
    """dL/ds1 = dL/do1 ⊙ [s1 > 0].   N×H, N×H → N×H."""
    # Multiplying by the boolean mask is exact (1·g = g, 0·g = ±0) and branch-free.
    ds1: Array = do1 * relu_mask(s1)
    return ds1


# --- softmax and cross-entropy -------------------------------------------------------------


def _shifted_exp(s2: Array) -> tuple[Array, Array]:
    """e = exp(s2 − m) and m, the row maximum: the first step of logsumexp and softmax.
    N×C → N×C, N×1.

    Subtracting m keeps exp from overflowing for large scores; it cancels exactly.
    """
    m = np.maximum.reduce(s2, axis=1, keepdims=True)
    e = s2 - m
    np.exp(e, out=e)
    return e, m


def logsumexp(s2: Array) -> Array:
    """lse = log Σ_c exp(s2_c) = m + log Σ_c exp(s2_c − m) row-wise.   N×C → N×1."""
    e, m = _shifted_exp(s2)
    lse: Array = m + np.log(np.add.reduce(e, axis=1, keepdims=True))
    return lse


def softmax_logsumexp(s2: Array) -> tuple[Array, Array]:
    """p_c = exp(s2_c − m) / z and lse = m + log z row-wise, z = Σ_k exp(s2_k − m).
    N×C → N×C, N×1.

    One exp pass gives both: the loss needs lse, the gradient needs p.
    """
    p, m = _shifted_exp(s2)
    z = np.add.reduce(p, axis=1, keepdims=True)
    p /= z  # in place: p is the buffer of exp(s2 − m), owned here
    lse: Array = m + np.log(z)
    return p, lse


def softmax(s2: Array) -> Array:
    """p_c = exp(s2_c − m) / Σ_k exp(s2_k − m) row-wise, m the row maximum.   N×C → N×C."""
    return softmax_logsumexp(s2)[0]


def softmax_jacobian(p: Array) -> Array:
    """dp_c/ds2_j = p_c (δ_cj − p_j), i.e. diag(p) − p pᵀ per row.   N×C → N×C×C.

    ``jac[n, c, j] = dp[n, c] / ds2[n, j]``.
    """
    check.float_array("p", p, 2)
    jac = -p[:, :, None] * p[:, None, :]
    diag = np.einsum("ncc->nc", jac)  # a writable view of the diagonals
    diag += p
    return jac


def _scale(N: int, reduction: str) -> float:
    return 1.0 / N if reduction == "mean" else 1.0


def nll(lse: Array, s2: Array, y: Array | Labels, reduction: str) -> np.floating[Any]:
    """L = −Σ_n Σ_c y_nc log p_nc with log p = s2 − lse, divided by N for "mean".
    lse: N×1, s2: N×C → scalar.

    For labels this is Σ_n (lse_n − s2[n, y_n]): no N×C log p matrix, no one-hot y.
    """
    N = s2.shape[0]
    if y.dtype.kind == "f":
        total = -np.vdot(y, s2 - lse)
    else:
        total = np.add.reduce(lse[:, 0] - s2[np.arange(N), y])
    return s2.dtype.type(total * _scale(N, reduction))


def cross_entropy(s2: Array, y: Array | Labels, reduction: str = "mean") -> np.floating[Any]:
    """L = −Σ_n Σ_c y_nc log p_nc, divided by N for ``reduction="mean"``.   s2: N×C → scalar.

    ``y`` is integer labels (N,) or float targets N×C (soft, or rows not summing to 1).
    """
    check.float_array("s2", s2, 2)
    N, C = s2.shape
    if N == 0:
        raise ValueError("s2: N must be at least 1, got shape (0, C)")
    y = check.targets(y, N, C, s2.dtype)
    return nll(logsumexp(s2), s2, y, check.reduction(reduction))


def grad_s2(p: Array, y: Array | Labels, reduction: str) -> Array:
    """dL/ds2 = p·Σ_c y_c − y, divided by N for "mean".   N×C → N×C.

    The derivation's p − y is the case Σ_c y_c = 1 (labels, one-hot or soft targets);
    unnormalised targets need the general form. Labels are never expanded to one-hot.
    """
    N = p.shape[0]
    if y.dtype.kind == "f":
        ds2 = p * np.add.reduce(y, axis=1, keepdims=True)
        ds2 -= y
    else:
        # Subtract 1 at the label entries of a copy of p: no one-hot matrix, and p − 1 is
        # rounded once before any scaling (p·scale − scale would cancel badly where p ≈ 1).
        ds2 = p.copy()
        ds2[np.arange(N), y] -= 1
    scale = _scale(N, reduction)
    if scale != 1.0:  # "sum", or N = 1: multiplying by 1 would change nothing
        ds2 *= p.dtype.type(scale)
    out: Array = ds2
    return out


# --- the whole network -----------------------------------------------------------------------


def _check_x(x: Any, params: Params) -> Array:
    if not isinstance(params, Params):
        raise TypeError(f"params: expected manual.Params, got {type(params).__name__}")
    check.float_array("x", x, 2)
    # Params holds one dtype throughout (checked when it was built): w1 stands for all four.
    check.same_dtype("x", x.dtype, w1=params.w1)
    check.dim("x", x, 1, params.w1.shape[0], "D, the number of rows of w1")
    if x.shape[0] == 0:
        raise ValueError("x: N must be at least 1, got shape (0, D)")
    checked: Array = x
    return checked


def _check_fwd(fwd: Any, N: int, H: int, C: int, dtype: np.dtype[Any]) -> None:
    if not isinstance(fwd, Forward):
        raise TypeError(f"fwd: expected manual.Forward, got {type(fwd).__name__}")
    for name, a, shape in (("s1", fwd.s1, (N, H)), ("o1", fwd.o1, (N, H)), ("p", fwd.p, (N, C))):
        # Typed as arrays, but a caller's Forward may hold anything: check at run time.
        if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:  # type: ignore[redundant-expr]
            raise ValueError(
                f"fwd.{name}: expected a {dtype} array of shape {shape}, "
                f"got {getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}"
            )


def _forward(x: Array, params: Params) -> tuple[Forward, Array]:
    """The forward pass on checked inputs, and the log-sum-exp the loss needs (N×1)."""
    s1 = affine(x, params.w1, params.b1)
    o1 = relu(s1)
    s2 = affine(o1, params.w2, params.b2)
    p, lse = softmax_logsumexp(s2)
    return Forward(s1=s1, o1=o1, s2=s2, p=p), lse


def _backprop(x: Array, params: Params, fwd: Forward, ds2: Array) -> Gradients:
    """Every gradient on checked inputs, from dL/ds2 = ``ds2`` (N×C) back through both
    layers. The Gauss-Newton product runs it on H_s2·ṡ2 (``manual.second_order``)."""
    do1 = grad_input(ds2, params.w2)
    ds1 = grad_s1(do1, fwd.s1)
    return Gradients(
        s2=ds2,
        o1=do1,
        w2=grad_weight(fwd.o1, ds2),
        b2=grad_b(ds2),
        s1=ds1,
        x=grad_input(ds1, params.w1),
        w1=grad_weight(x, ds1),
        b1=grad_b(ds1),
    )


def forward(x: Array, params: Params) -> Forward:
    """s1 = x·w1 + b1, o1 = ReLU(s1), s2 = o1·w2 + b2, p = softmax(s2)."""
    return _forward(_check_x(x, params), params)[0]


def backward(
    x: Array, y: Array | Labels, params: Params, fwd: Forward, reduction: str = "mean"
) -> Gradients:
    """Every gradient of L, composed from the formulas above (reverse order of forward)."""
    _check_x(x, params)
    N, H, C = x.shape[0], params.w1.shape[1], params.w2.shape[1]
    y = check.targets(y, N, C, x.dtype)
    reduction = check.reduction(reduction)
    _check_fwd(fwd, N, H, C, x.dtype)
    return _backprop(x, params, fwd, grad_s2(fwd.p, y, reduction))


def loss_and_gradients(
    x: Array, y: Array | Labels, params: Params, reduction: str = "mean"
) -> tuple[np.floating[Any], Forward, Gradients]:
    """L, the forward intermediates and every gradient, in one pass.

    The same formulas as ``forward``, ``cross_entropy`` and ``backward`` in turn, and the
    same results bit for bit, but the inputs are checked once and the softmax's exp pass
    also gives the log-sum-exp that the loss needs.
    """
    _check_x(x, params)
    y = check.targets(y, x.shape[0], params.w2.shape[1], x.dtype)
    reduction = check.reduction(reduction)
    fwd, lse = _forward(x, params)
    grads = _backprop(x, params, fwd, grad_s2(fwd.p, y, reduction))
    return nll(lse, fwd.s2, y, reduction), fwd, grads
