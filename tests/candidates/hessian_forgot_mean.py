"""H_s2·ṡ2 without the 1/N of reduction="mean" (the first-order gradients keep it)."""

from typing import Any

from manual import Params, backward, cross_entropy, forward, softmax_jacobian
from manual.second_order import r_grad_s2
from tests.candidates._second import second_order_with


def _r_grad_s2(dp: Any, y: Any, _reduction: str) -> Any:
    return r_grad_s2(dp, y, "sum")


jvp, hvp, ggn_vp = second_order_with(r_grad_s2=_r_grad_s2)
__all__ = ["Params", "backward", "cross_entropy", "forward", "ggn_vp", "hvp", "jvp",
           "softmax_jacobian"]  # fmt: skip
