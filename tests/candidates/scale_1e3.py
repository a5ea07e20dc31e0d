"""Wrong, barely: dL/dw1 is 1e-3 too large in float32 and 1e-6 too large in float64.

The smallest error the gate promises to catch; think of a stray constant or a
mistyped learning-rate factor folded into one gradient.
"""

from typing import Any

import numpy as np

from manual import Params, cross_entropy, forward, softmax_jacobian
from tests.candidates._compose import backward_with


def _post(k: str, v: Any, _env: dict[str, Any]) -> Any:
    if k != "w1":
        return v
    return v * v.dtype.type(1 + (1e-3 if v.dtype == np.float32 else 1e-6))


backward = backward_with(post=_post)
__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
