"""Wrong: the softmax Jacobian as −p pᵀ, missing its diagonal term diag(p)."""

from typing import Any

from manual import Params, backward, cross_entropy, forward


def softmax_jacobian(p: Any) -> Any:
    return -p[:, :, None] * p[:, None, :]


__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
