"""The network in idiomatic PyTorch; every gradient comes from ``torch.autograd``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray


def network_loss(
    x: torch.Tensor, y: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor,
    w2: torch.Tensor, b2: torch.Tensor, reduction: str,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
    """Forward pass; returns the loss and the intermediates s1, o1, s2 and p."""
    s1 = x @ w1 + b1
    o1 = torch.relu(s1)
    s2 = o1 @ w2 + b2
    # F.cross_entropy takes class indices (long) or per-class targets (float), and does not
    # renormalise float targets: it is exactly −Σ y·log_softmax(s2).
    loss = F.cross_entropy(s2, y, reduction=reduction)
    return loss, {"s1": s1, "o1": o1, "s2": s2, "p": torch.softmax(s2, dim=1)}


def softmax_jacobian(s2: torch.Tensor) -> torch.Tensor:
    """dp/ds2 per row, N×C×C, from torch.func's reverse-mode jacobian."""
    jac: torch.Tensor = torch.func.vmap(torch.func.jacrev(lambda s: torch.softmax(s, dim=0)))(s2)
    return jac


def reference(
    x: NDArray[Any], y: NDArray[Any], w1: NDArray[Any], b1: NDArray[Any],
    w2: NDArray[Any], b2: NDArray[Any], reduction: str,
) -> dict[str, NDArray[Any]]:  # fmt: skip
    """Loss, intermediates and every gradient, as NumPy arrays."""
    params = [torch.tensor(a, requires_grad=True) for a in (x, w1, b1, w2, b2)]
    tx, tw1, tb1, tw2, tb2 = params
    ty = torch.from_numpy(y.astype(np.int64) if y.dtype.kind in "iu" else y)
    loss, inter = network_loss(tx, ty, tw1, tb1, tw2, tb2, reduction)
    for name in ("s1", "o1", "s2"):
        inter[name].retain_grad()
    loss.backward()  # type: ignore[no-untyped-call]
    out = {"loss": loss, **inter, "dp/ds2": softmax_jacobian(inter["s2"].detach())}
    for name, tensor in (("x", tx), ("w1", tw1), ("b1", tb1), ("w2", tw2), ("b2", tb2),
                    ("s1", inter["s1"]), ("o1", inter["o1"]), ("s2", inter["s2"])):  # fmt: skip
        assert tensor.grad is not None
        out[f"dL/d{name}"] = tensor.grad
    return {k: v.detach().numpy() for k, v in out.items()}
