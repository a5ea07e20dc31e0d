"""The network in idiomatic PyTorch; every derivative comes from ``torch.func`` autograd.

Written with ``torch.func.grad`` rather than ``loss.backward()``: the same reverse-mode
autograd, as a pure function, so that the engine can ``torch.func.vmap`` it over a batch
of cases (``.backward()`` with ``retain_grad`` cannot be vmapped). Each intermediate's
gradient is the gradient of the loss written as a function of that intermediate.
"""

from __future__ import annotations

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


def loss(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, y: Tensor,
         reduction: str) -> Tensor:  # fmt: skip
    return loss_from_s1(x @ w1 + b1, w2, b2, y, reduction)


def softmax_jacobian(s2: Tensor) -> Tensor:
    """dp/ds2 per row, N×C×C, by reverse-mode ``jacrev``."""
    jac: Tensor = torch.func.vmap(torch.func.jacrev(lambda s: torch.softmax(s, dim=0)))(s2)
    return jac


def reference(x: Tensor, y: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor,
              reduction: str) -> dict[str, Tensor]:  # fmt: skip
    """Loss, intermediates and every gradient, as tensors (the Jacobian is separate:
    ``softmax_jacobian(s2)`` works row by row)."""
    grad_and_value = torch.func.grad_and_value(loss, argnums=(0, 1, 2, 3, 4))
    (gx, gw1, gb1, gw2, gb2), value = grad_and_value(x, w1, b1, w2, b2, y, reduction)
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
