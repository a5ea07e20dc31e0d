"""Wrong: dL/dw1 = xᵀ·dL/do1, the mask forgotten in this one gradient only."""

from typing import Any

from manual import Params, cross_entropy, forward, softmax_jacobian
from tests.candidates._compose import backward_with


def _post(k: str, v: Any, env: dict[str, Any]) -> Any:
    return env["x"].T @ env["do1"] if k == "w1" else v


backward = backward_with(post=_post)
__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
