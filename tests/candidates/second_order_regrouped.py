"""Right, in other orders of operations: ṗ as p ⊙ ṡ2 − p ⊙ ⟨p, ṡ2⟩ (the two products
apart), L̇ as one inner product ⟨dL/ds2, ṡ2⟩, each R{·} with a bilinear term as one
product of stacked factors ([a, b]·[c; d] = a·c + b·d), and sums by einsum. The gate must
not demand manual's order for any of them."""

from typing import Any

import numpy as np

from manual import Params, backward, cross_entropy, forward, softmax_jacobian
from manual.network import Gradients
from manual.second_order import Tangents


def _tangents(x: Any, params: Params, v: Params, dx: Any) -> tuple[Any, ...]:
    fwd = forward(x, params)
    ds1 = x @ v.w1 + v.b1
    if dx is not None:
        ds1 = ds1 + dx @ params.w1
    do1 = np.where(fwd.s1 > 0, ds1, 0).astype(x.dtype)
    ds2 = np.concatenate([do1, fwd.o1], axis=1) @ np.concatenate([params.w2, v.w2]) + v.b2
    inner = np.einsum("nc,nc->n", fwd.p, ds2)[:, None]
    dp = fwd.p * ds2 - fwd.p * inner
    return fwd, ds1, do1, ds2, dp


def _h_s2(dp: Any, y: Any, reduction: str) -> Any:
    """κσ ⊙ ṗ, with σ from the targets (1 for labels)."""
    sigma = np.einsum("nc->n", y)[:, None] if y.dtype.kind == "f" else 1
    out = dp * sigma
    return out / dp.dtype.type(dp.shape[0]) if reduction == "mean" else out


def jvp(x: Any, y: Any, params: Params, v: Params, dx: Any = None,
        reduction: str = "mean") -> Tangents:  # fmt: skip
    fwd, ds1, do1, ds2, dp = _tangents(x, params, v, dx)
    g2 = backward(x, y, params, fwd, reduction=reduction).s2
    return Tangents(s1=ds1, o1=do1, s2=ds2, p=dp, loss=x.dtype.type(np.vdot(g2, ds2)))


def hvp(x: Any, y: Any, params: Params, v: Params, dx: Any = None,
        reduction: str = "mean") -> Gradients:  # fmt: skip
    fwd, _, do1, _, dp = _tangents(x, params, v, dx)
    g = backward(x, y, params, fwd, reduction=reduction)
    r2 = _h_s2(dp, y, reduction)
    ro1 = np.concatenate([r2, g.s2], axis=1) @ np.concatenate([params.w2, v.w2], axis=1).T
    rs1 = np.where(fwd.s1 > 0, ro1, 0).astype(x.dtype)
    rw2 = np.concatenate([do1, fwd.o1]).T @ np.concatenate([g.s2, r2])
    rx = np.concatenate([rs1, g.s1], axis=1) @ np.concatenate([params.w1, v.w1], axis=1).T
    rw1 = x.T @ rs1 if dx is None else np.concatenate([x, dx]).T @ np.concatenate([rs1, g.s1])
    return Gradients(s2=r2, o1=ro1, w2=rw2, b2=np.einsum("nc->c", r2), s1=rs1, x=rx, w1=rw1,
                     b1=np.einsum("nh->h", rs1))  # fmt: skip


def ggn_vp(x: Any, y: Any, params: Params, v: Params, dx: Any = None,
           reduction: str = "mean") -> Gradients:  # fmt: skip
    fwd, _, _, _, dp = _tangents(x, params, v, dx)
    r2 = _h_s2(dp, y, reduction)
    o1 = np.einsum("nc,hc->nh", r2, params.w2)
    s1 = np.where(fwd.s1 > 0, o1, 0).astype(x.dtype)
    return Gradients(s2=r2, o1=o1, w2=np.einsum("nh,nc->hc", fwd.o1, r2),
                     b2=np.einsum("nc->c", r2), s1=s1, x=np.einsum("nh,dh->nd", s1, params.w1),
                     w1=np.einsum("nd,nh->dh", x, s1), b1=np.einsum("nh->h", s1))  # fmt: skip


__all__ = ["Params", "backward", "cross_entropy", "forward", "ggn_vp", "hvp", "jvp",
           "softmax_jacobian"]  # fmt: skip
