"""Hand-derived gradients of a two-layer ReLU network with softmax cross-entropy, in NumPy,
and its second-order products (forward-mode tangents, Hv and Gv)."""

from .network import (
    Forward,
    Gradients,
    Params,
    backward,
    cross_entropy,
    forward,
    loss_and_gradients,
    softmax_jacobian,
)
from .second_order import Tangents, ggn_vp, hvp, jvp

__all__ = [
    "Forward",
    "Gradients",
    "Params",
    "Tangents",
    "backward",
    "cross_entropy",
    "forward",
    "ggn_vp",
    "hvp",
    "jvp",
    "loss_and_gradients",
    "softmax_jacobian",
]
