"""Wrong at the kink: the mask is [s1 >= 0], so dL/ds1 ≠ 0 where s1 is exactly 0."""

from typing import Any

import numpy as np

from manual import Params, cross_entropy, forward, softmax_jacobian
from tests.candidates._compose import backward_with


def _grad_s1(do1: Any, s1: Any) -> Any:
    return np.where(s1 >= 0, do1, 0).astype(do1.dtype)


backward = backward_with(grad_s1=_grad_s1)
__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
