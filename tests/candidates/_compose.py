"""manual's ``backward`` composed again from its formulas, with any formula replaceable.

A candidate module does ``backward = backward_with(grad_s2=wrong_grad_s2)``; everything
else is manual's own code, so each candidate differs from manual in exactly one place.
``post(name, gradient, env)`` may replace a finished gradient; ``env`` holds the inputs
by name (x, y, params, fwd, reduction) and the gradients as d<name> (ds2, do1, ds1, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from manual import network as m

Post = Callable[[str, Any, dict[str, Any]], Any]


def backward_with(post: Post | None = None, **formulas: Callable[..., Any]) -> Callable[..., Any]:
    f = {name: formulas.get(name, getattr(m, name)) for name in
         ("grad_s2", "grad_input", "grad_s1", "grad_weight", "grad_b")}  # fmt: skip

    def backward(x: Any, y: Any, params: m.Params, fwd: m.Forward,
                 reduction: str = "mean") -> m.Gradients:  # fmt: skip
        ds2 = f["grad_s2"](fwd.p, y, reduction)
        do1 = f["grad_input"](ds2, params.w2)
        ds1 = f["grad_s1"](do1, fwd.s1)
        g = {"s2": ds2, "o1": do1, "w2": f["grad_weight"](fwd.o1, ds2), "b2": f["grad_b"](ds2),
             "s1": ds1, "x": f["grad_input"](ds1, params.w1), "w1": f["grad_weight"](x, ds1),
             "b1": f["grad_b"](ds1)}  # fmt: skip
        if post is not None:
            # The inputs by name, the gradients as d<name>: dx, dw1, ds1, do1, ...
            env = {"x": x, "y": y, "params": params, "fwd": fwd, "reduction": reduction}
            env |= {f"d{k}": v for k, v in g.items()}
            g = {k: post(k, v, env) for k, v in g.items()}
        return m.Gradients(**g)

    return backward


def scaled(name: str, factor: float) -> Post:
    """Multiply one gradient by ``factor``, keeping its dtype."""

    def post(k: str, v: Any, _env: dict[str, Any]) -> Any:
        return (v * v.dtype.type(factor)).astype(v.dtype) if k == name else v

    return post


__all__ = ["backward_with", "scaled"]
