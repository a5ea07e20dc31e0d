"""Wrong shape: the bias gradients summed with keepdims=True, a 1×C row instead of the
(C,) vector the bias has."""

from typing import Any

from manual import Params, cross_entropy, forward, softmax_jacobian
from tests.candidates._compose import backward_with


def _grad_b(ds: Any) -> Any:
    return ds.sum(axis=0, keepdims=True)


backward = backward_with(grad_b=_grad_b)
__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
