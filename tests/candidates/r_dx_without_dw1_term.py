"""R{dL/dx} = R{dL/ds1}·w1ᵀ only: the dL/ds1·ẇ1ᵀ term is missing."""

from typing import Any

from manual import Params, backward, cross_entropy, forward, softmax_jacobian
from manual.network import grad_input
from tests.candidates._second import second_order_with


def _r_dx(r_ds1: Any, w1: Any, _ds1: Any, _dw1: Any) -> Any:
    return grad_input(r_ds1, w1)


jvp, hvp, ggn_vp = second_order_with(r_dx=_r_dx)
__all__ = ["Params", "backward", "cross_entropy", "forward", "ggn_vp", "hvp", "jvp",
           "softmax_jacobian"]  # fmt: skip
