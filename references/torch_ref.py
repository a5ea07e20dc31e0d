"""The network in idiomatic PyTorch; every derivative comes from ``torch.func`` autograd.

Written with ``torch.func.grad`` rather than ``loss.backward()``: the same reverse-mode
autograd, as a pure function, so that the engine can ``torch.func.vmap`` it over a batch
of cases (``.backward()`` with ``retain_grad`` cannot be vmapped). Each intermediate's
gradient is the gradient of the loss written as a function of that intermediate.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def loss_from_s2(s2: Tensor, y: Tensor, reduction: str) -> Tensor:
    # F.cross_entropy takes class indices (long) or per-class targets (float), and does not
    # renormalise float targets: it is exactly −Σ y·log_softmax(s2).
    return F.cross_entropy(s2, y, reduction=reduction)


def loss_from_o1(o1: Tensor, w2: Tensor, b2: Tensor, y: Tensor, reduction: str) -> Tensor:
    return loss_from_s2(o1 @ w2 + b2, y, reduction)


def loss_from_s1(s1: Tensor, w2: Tensor, b2: Tensor, y: Tensor, reduction: str) -> Tensor:
    return loss_from_o1(torch.relu(s1), w2, b2, y, reduction)


def penalty(w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, l2: Tensor | float,
            l2_biases: bool = False) -> Tensor:  # fmt: skip
    """L2 regularisation: l2·(‖w1‖² + ‖w2‖²), plus l2·(‖b1‖² + ‖b2‖²) under ``l2_biases``."""
    # l2 times each square, not times their sum: in torch 2.13's forward mode, a 0-d float32
    # tensor times a Python float has a float64 tangent.
    penalised = (w1, w2, b1, b2) if l2_biases else (w1, w2)
    total: Tensor = sum((l2 * w.pow(2)).sum() for w in penalised)  # type: ignore[assignment]
    return total


def loss(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, y: Tensor, reduction: str,
         l2: Tensor | float | None = None, l2_biases: bool = False) -> Tensor:  # fmt: skip
    """The loss: cross-entropy, plus the L2 penalty when ``l2`` is given."""
    data = loss_from_s1(x @ w1 + b1, w2, b2, y, reduction)
    return data if l2 is None else data + penalty(w1, b1, w2, b2, l2, l2_biases)


def softmax_jacobian(s2: Tensor) -> Tensor:
    """dp/ds2 per row, N×C×C, by reverse-mode ``jacrev``."""
    jac: Tensor = torch.func.vmap(torch.func.jacrev(lambda s: torch.softmax(s, dim=0)))(s2)
    return jac


def reference(x: Tensor, y: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor,
              reduction: str, l2: Tensor | float | None = None,
              l2_biases: bool = False) -> dict[str, Tensor]:  # fmt: skip
    """Loss, intermediates and every gradient, as tensors (the Jacobian is separate:
    ``softmax_jacobian(s2)`` works row by row)."""
    grad_and_value = torch.func.grad_and_value(loss, argnums=(0, 1, 2, 3, 4))
    (gx, gw1, gb1, gw2, gb2), value = grad_and_value(x, w1, b1, w2, b2, y, reduction, l2,
                                                     l2_biases)  # fmt: skip
    s1 = x @ w1 + b1
    o1 = torch.relu(s1)
    s2 = o1 @ w2 + b2
    return {
        "loss": value,
        "s1": s1,
        "o1": o1,
        "s2": s2,
        "p": torch.softmax(s2, dim=1),
        "dL/ds2": torch.func.grad(loss_from_s2)(s2, y, reduction),
        "dL/do1": torch.func.grad(loss_from_o1)(o1, w2, b2, y, reduction),
        "dL/ds1": torch.func.grad(loss_from_s1)(s1, w2, b2, y, reduction),
        "dL/dx": gx,
        "dL/dw1": gw1,
        "dL/db1": gb1,
        "dL/dw2": gw2,
        "dL/db2": gb2,
    }


# --- second order: every product from autograd of the functions above --------------------------

PARAMS = ("x", "w1", "b1", "w2", "b2")
"""What a direction moves, in the order the functions below take them."""


def forward(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, y: Tensor,
            reduction: str, l2: Tensor | float | None = None,
            l2_biases: bool = False) -> dict[str, Tensor]:  # fmt: skip
    """The forward pass and the (regularised) loss, for forward mode."""
    s1 = x @ w1 + b1
    o1 = torch.relu(s1)
    s2 = o1 @ w2 + b2
    value = loss_from_s2(s2, y, reduction)
    if l2 is not None:
        value = value + penalty(w1, b1, w2, b2, l2, l2_biases)
    return {"s1": s1, "o1": o1, "s2": s2, "p": torch.softmax(s2, dim=1), "loss": value}


def gradients(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, y: Tensor,
              reduction: str, l2: Tensor | float | None = None,
              l2_biases: bool = False) -> dict[str, Tensor]:  # fmt: skip
    """Every gradient, reverse mode (``reference``'s), as a function of the parameters."""
    out = reference(x, y, w1, b1, w2, b2, reduction, l2, l2_biases)
    return {k: v for k, v in out.items() if k.startswith("dL/")}


def jvp(primals: tuple[Tensor, ...], tangents: tuple[Tensor, ...], y: Tensor, reduction: str,
        l2: Tensor | float | None = None, l2_biases: bool = False) -> dict[str, Tensor]:  # fmt: skip
    """Forward mode (``torch.func.jvp``): the tangent of s1, o1, s2, p and L along
    ``tangents`` (ẋ, ẇ1, ḃ1, ẇ2, ḃ2; ẋ zero to hold x fixed)."""
    f = functools.partial(forward, y=y, reduction=reduction, l2=l2, l2_biases=l2_biases)
    out: dict[str, Tensor] = torch.func.jvp(f, primals, tangents)[1]
    return out


def hvp(primals: tuple[Tensor, ...], tangents: tuple[Tensor, ...], y: Tensor, reduction: str,
        l2: Tensor | float | None = None, l2_biases: bool = False) -> dict[str, Tensor]:  # fmt: skip
    """Forward-over-reverse: ``torch.func.jvp`` of every gradient. At dL/dx … dL/db2 it is
    the Hessian in (x, w1, b1, w2, b2) times the direction."""
    f = functools.partial(gradients, y=y, reduction=reduction, l2=l2, l2_biases=l2_biases)
    out: dict[str, Tensor] = torch.func.jvp(f, primals, tangents)[1]
    return out


def penalty_terms(params: tuple[Tensor, ...], tangents: tuple[Tensor, ...],
                  l2: Tensor | float, l2_biases: bool = False) -> dict[str, Tensor]:  # fmt: skip
    """The L2 penalty alone: its value ("loss"), its gradient in w1, b1, w2, b2 ("dL/dw1",
    …), its directional derivative along ``tangents`` (ẇ1, ḃ1, ẇ2, ḃ2; "L̇") and its
    Hessian times them ("H·dL/dw1", …), all by ``torch.func``."""

    def f(w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
        return penalty(w1, b1, w2, b2, l2, l2_biases)

    grads, value = torch.func.grad_and_value(f, argnums=(0, 1, 2, 3))(*params)
    slope = torch.func.jvp(f, params, tangents)[1]
    hv = torch.func.jvp(torch.func.grad(f, argnums=(0, 1, 2, 3)), params, tangents)[1]
    names = ("dL/dw1", "dL/db1", "dL/dw2", "dL/db2")
    return ({"loss": value, "L̇": slope} | dict(zip(names, grads, strict=True))
            | {f"H·{n}": h for n, h in zip(names, hv, strict=True)})  # fmt: skip


def ggn_vp(primals: tuple[Tensor, ...], tangents: tuple[Tensor, ...], y: Tensor,
           reduction: str, l2: Tensor | float | None = None,
           l2_biases: bool = False) -> dict[str, Tensor]:  # fmt: skip
    """Gv = Jᵀ H J v: J v by jvp of s2, H (the loss's Hessian in s2) by jvp of its
    gradient, Jᵀ by vjp, also of s2 as a function of o1 and of s1 for the intermediates.
    The L2 penalty is its own Gauss-Newton term (its Hessian): Gv gains its Hessian times
    the direction."""
    x, w1, b1, w2, b2 = primals

    def s2_of_s1(s1: Tensor) -> Tensor:
        return torch.relu(s1) @ w2 + b2

    def s2_of(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
        return torch.relu(x @ w1 + b1) @ w2 + b2

    s2, jv = torch.func.jvp(s2_of, primals, tangents)[:2]
    loss_grad = torch.func.grad(loss_from_s2)
    hjv = torch.func.jvp(lambda s: loss_grad(s, y, reduction), (s2,), (jv,))[1]
    gx, gw1, gb1, gw2, gb2 = torch.func.vjp(s2_of, *primals)[1](hjv)
    (go1,) = torch.func.vjp(lambda o1: o1 @ w2 + b2, torch.relu(x @ w1 + b1))[1](hjv)
    (gs1,) = torch.func.vjp(s2_of_s1, x @ w1 + b1)[1](hjv)
    out = {"dL/ds2": hjv, "dL/do1": go1, "dL/ds1": gs1, "dL/dx": gx, "dL/dw1": gw1,
           "dL/db1": gb1, "dL/dw2": gw2, "dL/db2": gb2}  # fmt: skip
    if l2 is not None:
        pen = penalty_terms(primals[1:], tangents[1:], l2, l2_biases)
        for name in ("dL/dw1", "dL/db1", "dL/dw2", "dL/db2"):
            out[name] = out[name] + pen[f"H·{name}"]
    return out
