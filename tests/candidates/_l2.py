"""Function candidates with an L2 penalty, right or wrong in one place each.

``make(loss_factor, grad_factor, ...)`` builds ``f(x, y, params, reduction, l2)``: manual's
loss and gradients plus ``loss_factor·l2·Σ‖W‖²`` in the loss and ``grad_factor·l2·W`` in
the gradients. The full form is (1, 2), the half form (0.5, 1); anything else is a mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import manual

WEIGHTS = ("w1", "w2")


def make(loss_factor: float, grad_factor: float, loss_names: tuple[str, ...] = WEIGHTS,
         grad_names: tuple[str, ...] = WEIGHTS) -> Callable[..., dict[str, Any]]:  # fmt: skip
    def candidate(x: Any, y: Any, params: dict[str, Any], reduction: str = "mean",
                  l2: float = 0.0) -> dict[str, Any]:  # fmt: skip
        loss, fwd, grads = manual.loss_and_gradients(x, y, manual.Params(**params), reduction)
        loss = loss + loss_factor * l2 * sum(np.sum(params[k] * params[k]) for k in loss_names)
        out = {"loss": loss, "s1": fwd.s1, "o1": fwd.o1, "s2": fwd.s2, "p": fwd.p}
        for k in ("s2", "o1", "w2", "b2", "s1", "x", "w1", "b1"):
            g = getattr(grads, k)
            out[f"dL/d{k}"] = g + grad_factor * l2 * params[k] if k in grad_names else g
        return out

    return candidate
