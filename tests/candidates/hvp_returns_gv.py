"""Hv written as the Gauss-Newton product: hvp returns Gv, so every bilinear term of the
R-pass (dL/ds2·ẇ2ᵀ, ȯ1ᵀ·dL/ds2, dL/ds1·ẇ1ᵀ, ẋᵀ·dL/ds1) is missing."""

from manual import Params, backward, cross_entropy, forward, softmax_jacobian
from tests.candidates._second import second_order_with

jvp, _, ggn_vp = second_order_with()
hvp = ggn_vp
__all__ = ["Params", "backward", "cross_entropy", "forward", "ggn_vp", "hvp", "jvp",
           "softmax_jacobian"]  # fmt: skip
