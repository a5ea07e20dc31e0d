"""manual's second-order products composed again from its formulas, with any one replaced.

A candidate module does ``jvp, hvp, ggn_vp = second_order_with(r_grad_s2=wrong)``; the
rest is manual's own code, so each candidate differs from manual in one place. The R-pass's
uses of a shared formula have names of their own here (``r_mask`` for the mask applied to
R{dL/do1}, ``r_dx`` and ``r_dw1`` for the first layer's product rule, ``r_do1`` and
``r_dw2`` for the second's), so that a mistake in one of them stays there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from manual import network as n
from manual import second_order as so


def second_order_with(**formulas: Callable[..., Any]) -> tuple[Callable[..., Any], ...]:
    defaults: dict[str, Callable[..., Any]] = {"tangent_affine": so.tangent_affine, "tangent_relu": so.tangent_relu,
                "tangent_softmax": so.tangent_softmax, "tangent_loss": so.tangent_loss,
                "r_grad_s2": so.r_grad_s2, "r_mask": n.grad_s1, "r_do1": so.r_grad_input,
                "r_dw2": so.r_grad_weight, "r_dx": so.r_grad_input, "r_dw1": so.r_grad_weight}  # fmt: skip
    unknown = set(formulas) - set(defaults)
    if unknown:
        raise TypeError(f"second_order_with: unknown formulas {sorted(unknown)}")
    f: dict[str, Callable[..., Any]] = defaults | formulas

    def tangents(x: Any, dx: Any, params: n.Params, v: n.Params) -> tuple[Any, ...]:
        fwd = n.forward(x, params)
        ds1 = f["tangent_affine"](x, dx, params.w1, v.w1, v.b1)
        do1 = f["tangent_relu"](ds1, fwd.s1)
        ds2 = f["tangent_affine"](fwd.o1, do1, params.w2, v.w2, v.b2)
        return fwd, ds1, do1, ds2, f["tangent_softmax"](fwd.p, ds2)

    def jvp(x: Any, y: Any, params: n.Params, v: n.Params, dx: Any = None,
            reduction: str = "mean") -> so.Tangents:  # fmt: skip
        fwd, ds1, do1, ds2, dp = tangents(x, dx, params, v)
        return so.Tangents(s1=ds1, o1=do1, s2=ds2, p=dp,
                           loss=f["tangent_loss"](fwd.p, ds2, y, reduction))  # fmt: skip

    def hvp(x: Any, y: Any, params: n.Params, v: n.Params, dx: Any = None,
            reduction: str = "mean") -> n.Gradients:  # fmt: skip
        fwd, _, do1, _, dp = tangents(x, dx, params, v)
        g2 = n.grad_s2(fwd.p, y, reduction)
        gs1 = n.grad_s1(n.grad_input(g2, params.w2), fwd.s1)
        r2 = f["r_grad_s2"](dp, y, reduction)
        ro1 = f["r_do1"](r2, params.w2, g2, v.w2)
        rs1 = f["r_mask"](ro1, fwd.s1)
        return n.Gradients(s2=r2, o1=ro1, w2=f["r_dw2"](fwd.o1, r2, do1, g2), b2=n.grad_b(r2),
                           s1=rs1, x=f["r_dx"](rs1, params.w1, gs1, v.w1),
                           w1=f["r_dw1"](x, rs1, dx, gs1), b1=n.grad_b(rs1))  # fmt: skip

    def ggn_vp(x: Any, y: Any, params: n.Params, v: n.Params, dx: Any = None,
               reduction: str = "mean") -> n.Gradients:  # fmt: skip
        fwd, _, _, _, dp = tangents(x, dx, params, v)
        r2 = f["r_grad_s2"](dp, y, reduction)
        o1 = n.grad_input(r2, params.w2)
        s1 = f["r_mask"](o1, fwd.s1)
        return n.Gradients(s2=r2, o1=o1, w2=n.grad_weight(fwd.o1, r2), b2=n.grad_b(r2), s1=s1,
                           x=n.grad_input(s1, params.w1), w1=n.grad_weight(x, s1),
                           b1=n.grad_b(s1))  # fmt: skip

    return jvp, hvp, ggn_vp


__all__ = ["second_order_with"]
