"""Wrong loss: −Σ y·log(p + 1e-7), a constant added inside the log "to avoid log 0",
which shifts the loss wherever a target class has a small probability."""

from typing import Any

import numpy as np

from manual import Params, backward, forward, softmax_jacobian
from manual.network import softmax


def cross_entropy(s2: Any, y: Any, reduction: str = "mean") -> Any:
    p = softmax(s2)
    targets = np.eye(s2.shape[1], dtype=s2.dtype)[y] if y.dtype.kind in "iu" else y
    total = -(targets * np.log(p + s2.dtype.type(1e-7))).sum()
    return s2.dtype.type(total / s2.shape[0] if reduction == "mean" else total)


__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
