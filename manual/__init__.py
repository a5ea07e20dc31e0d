"""Hand-derived gradients of a two-layer ReLU network with softmax cross-entropy, in NumPy."""

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

__all__ = [
    "Forward",
    "Gradients",
    "Params",
    "backward",
    "cross_entropy",
    "forward",
    "loss_and_gradients",
    "softmax_jacobian",
]
