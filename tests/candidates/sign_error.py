"""Wrong: dL/ds2 = y − p instead of p − y (the sign of the whole backward flips)."""

from manual import Params, cross_entropy, forward, softmax_jacobian
from manual.network import grad_s2
from tests.candidates._compose import backward_with

backward = backward_with(grad_s2=lambda p, y, reduction: -grad_s2(p, y, reduction))
__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
