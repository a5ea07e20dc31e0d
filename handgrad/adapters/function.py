"""A plain function: the shim for code that no other adapter covers.

It is called as ``f(x, y, params, reduction="mean", l2=0.0)``, with ``params`` a dict of
w1, b1, w2 and b2, and returns a mapping from the registry's names ("loss", "s2",
"dL/dw1", …) to arrays. What it leaves out is not verified; an unknown key is an error
that lists the accepted ones, so that a typo such as "dw1" is caught. A Python float is
accepted for the loss. Its scope is its module's ``HANDGRAD_SCOPE``. For example::

    from cs231n.classifiers.neural_net import TwoLayerNet

    def verify_me(x, y, params, reduction="mean", l2=0.0):
        net = TwoLayerNet(x.shape[1], params["w1"].shape[1], params["w2"].shape[1])
        net.params = {"W1": params["w1"], "b1": params["b1"], "W2": params["w2"],
                      "b2": params["b2"]}
        loss, grads = net.loss(x, y, reg=l2)
        return {"loss": loss, "dL/dw1": grads["W1"], "dL/db1": grads["b1"],
                "dL/dw2": grads["W2"], "dL/db2": grads["b2"]}
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from handgrad.adapters.module import takes
from handgrad.candidate import Arrays, Candidate, CandidateError, calling, declared_scope
from handgrad.cases import Case
from handgrad.quantities import FIRST, ROW_WISE
from handgrad.regularisation import L2

ACCEPTED = FIRST + ROW_WISE
"""The keys a function may return: every first-order quantity and the softmax Jacobian."""


def adapt(f: Callable[..., Any], module: ModuleType, name: str,
          path: tuple[str, ...] = ()) -> Candidate:  # fmt: skip
    """``f`` as a Candidate."""

    def run(case: Case, l2: L2) -> Arrays:
        return run_function(f, name, case, l2)

    without_l2 = () if takes(f, "l2") else (f"{name} takes no l2= parameter",)
    return Candidate(name, run, (), declared_scope(module), without_l2, path, api="function")


def _array(key: str, value: Any, dtype: np.dtype[Any]) -> Any:
    # A Python float carries no dtype of its own: it is the loss in the case's dtype. A
    # NumPy scalar keeps its dtype, so that a float64 loss of float32 inputs is caught.
    if key == "loss" and type(value) is float:
        return np.asarray(value, dtype=dtype)
    return np.asarray(value)


def run_function(f: Callable[..., Any], name: str, case: Case, l2: L2) -> Arrays:
    """Call ``f`` on private copies of the case's inputs and collect what it returns."""
    inputs = case.inputs()
    given = {k: a.copy() for k, a in inputs.items()}
    params = {k: given[k] for k in ("w1", "b1", "w2", "b2")}
    extra = {"l2": l2.strength} if l2 else {}
    calling(name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            returned = f(given["x"], given["y"], params, reduction=case.spec.reduction, **extra)
    except Exception as exc:
        raise CandidateError(f"{name} raised {type(exc).__name__}: {exc} ({case.spec})") from exc
    if not isinstance(returned, Mapping):
        raise CandidateError(f"{name} returned a {type(returned).__name__}, expected a mapping "
                             f"from quantity names ({', '.join(ACCEPTED)}) to arrays "
                             f"({case.spec})")  # fmt: skip
    unknown = [k for k in returned if k not in ACCEPTED]
    if unknown:
        raise CandidateError(f"{name} returned unknown quantity name(s) "
                             f"{', '.join(map(repr, unknown))}; accepted: "
                             f"{', '.join(ACCEPTED)} ({case.spec})")  # fmt: skip
    dtype = np.dtype(case.spec.dtype)
    try:
        out = {k: _array(k, v, dtype) for k, v in returned.items() if v is not None}
    except Exception as exc:
        raise CandidateError(f"{name} returned a value that is not an array: "
                             f"{type(exc).__name__}: {exc} ({case.spec})") from exc  # fmt: skip
    modified = [k for k, a in given.items() if not np.array_equal(a, inputs[k])]
    if modified:
        raise CandidateError(f"{name} modified its input(s) {', '.join(modified)} "
                             f"({case.spec}); inputs must be left untouched", out)  # fmt: skip
    return {k: out[k] for k in ACCEPTED if k in out}
