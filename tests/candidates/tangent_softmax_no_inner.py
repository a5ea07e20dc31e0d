"""ṗ = p ⊙ ṡ2: the softmax's tangent without its −p ⊙ ⟨p, ṡ2⟩ term (diag(p) alone)."""

from typing import Any

from manual import Params, backward, cross_entropy, forward, softmax_jacobian
from tests.candidates._second import second_order_with


def _tangent_softmax(p: Any, ds2: Any) -> Any:
    return p * ds2


jvp, hvp, ggn_vp = second_order_with(tangent_softmax=_tangent_softmax)
__all__ = ["Params", "backward", "cross_entropy", "forward", "ggn_vp", "hvp", "jvp",
           "softmax_jacobian"]  # fmt: skip
