"""Wrong: backward divides x by N in place to fold the 1/N of the mean into dL/dw1."""

from typing import Any

from manual import Forward, Gradients, Params, cross_entropy, forward, softmax_jacobian
from manual import backward as _backward


def backward(x: Any, y: Any, params: Params, fwd: Forward, reduction: str = "mean") -> Gradients:
    grads = _backward(x, y, params, fwd, reduction)
    x /= x.dtype.type(x.shape[0])  # the bug: x belongs to the caller
    return grads


__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
