"""R{dL/dw1} = xᵀ·R{dL/ds1} only: the ẋᵀ·dL/ds1 term is missing when x is in the
direction."""

from typing import Any

from manual import Params, backward, cross_entropy, forward, softmax_jacobian
from manual.network import grad_weight
from tests.candidates._second import second_order_with


def _r_dw1(x: Any, r_ds1: Any, _dx: Any, _ds1: Any) -> Any:
    return grad_weight(x, r_ds1)


jvp, hvp, ggn_vp = second_order_with(r_dw1=_r_dw1)
__all__ = ["Params", "backward", "cross_entropy", "forward", "ggn_vp", "hvp", "jvp",
           "softmax_jacobian"]  # fmt: skip
