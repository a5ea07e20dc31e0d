"""The implementation under test: import it, check its API, run it on one case.

The candidate's API is per case (``forward``, ``cross_entropy``, ``backward``,
``softmax_jacobian``, as in :mod:`manual`), so this is the one stage of the gate that runs
case by case. The second-order products (``jvp``, ``hvp``, ``ggn_vp``, with manual's
signatures) are optional: each one a candidate has is verified, and the report names the
ones it lacks as not verified.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import MOVED, Case, case_direction
from handgrad.quantities import PRODUCTS, QUANTITIES, SECOND

API = ("Params", "forward", "backward", "cross_entropy", "softmax_jacobian")
FORWARD = ("s1", "o1", "s2", "p")
GRADIENTS = ("s2", "o1", "w2", "b2", "s1", "x", "w1", "b1")
"""The fields of the candidate's gradients object, reported as dL/d<field>."""


class CandidateError(AssertionError):
    """The candidate broke the contract: it raised, or it wrote into its inputs.

    ``partial`` holds what it did return before that (e.g. the forward pass of a backward
    that raised), so that those values can still be compared: a NaN in p explains a crash
    in softmax_jacobian better than any guess.
    """

    def __init__(self, message: str, partial: dict[str, NDArray[Any]] | None = None) -> None:
        super().__init__(message)
        self.partial = partial or {}


def load_candidate(name: str) -> ModuleType:
    """Import ``name`` and check that it exposes the API of :mod:`manual`."""
    module = importlib.import_module(name)
    missing = [a for a in API if not hasattr(module, a)]
    if missing:
        raise TypeError(f"--candidate {name}: missing {', '.join(missing)} (expected {API})")
    return module


def products(module: ModuleType) -> tuple[str, ...]:
    """The second-order products the candidate provides, in the registry's order: a
    function of that name that the module exports (``__all__``) or defines (in itself or a
    submodule), so that ``from jax import jvp`` in a first-order candidate is not taken for
    a product with manual's signature."""
    exported = getattr(module, "__all__", ())
    found = []
    for p in PRODUCTS:
        f = getattr(module, p, None)
        where = str(getattr(f, "__module__", ""))
        own = where == module.__name__ or where.startswith(module.__name__ + ".")
        if callable(f) and (p in exported or own):
            found.append(p)
    return tuple(found)


def _field(name: str) -> str:
    """The attribute of a product's result that holds quantity ``name``: a Tangents field
    for "jvp" (s1 … loss), a Gradients field for the others (w1 for dL/dw1)."""
    key = QUANTITIES[name].key
    return key.removeprefix("dL/d")


def run_candidate(module: ModuleType, case: Case) -> dict[str, NDArray[Any]]:
    """Run the candidate on private copies of the inputs and collect every quantity, and
    those of the second-order products it has along the case's direction.

    The copies keep a candidate that writes into its inputs from corrupting anything else;
    comparing them with the originals afterwards catches the write.
    """
    given = {k: a.copy() for k, a in case.inputs().items()}
    provided = products(module)
    direction = case_direction(case) if provided else {}
    moved = {f"v.{k}" if k != "x" else "dx": a for k, a in direction.items() if a is not None}
    given |= {k: a.copy() for k, a in moved.items()}
    reduction = case.spec.reduction
    step, out = "Params", {}
    # A candidate's overflow warnings are not the gate's errors: the NaN or inf they leave
    # behind is what gets compared and diagnosed.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            params = module.Params(w1=given["w1"], b1=given["b1"], w2=given["w2"],
                                   b2=given["b2"])  # fmt: skip
            step = "forward"
            fwd = module.forward(given["x"], params)
            out = {k: np.asarray(getattr(fwd, k)) for k in FORWARD}
            kept = {k: np.array(v, copy=True) for k, v in out.items()}
            step = "cross_entropy"
            out["loss"] = np.asarray(module.cross_entropy(fwd.s2, given["y"], reduction=reduction))
            step = "backward"
            grads = module.backward(given["x"], given["y"], params, fwd, reduction=reduction)
            out |= {f"dL/d{k}": np.asarray(getattr(grads, k)) for k in GRADIENTS}
            step = "softmax_jacobian"
            out["dp/ds2"] = np.asarray(module.softmax_jacobian(fwd.p))
            if provided:
                step = "Params"
                v = module.Params(**{k: given[f"v.{k}"] for k in MOVED[1:]})
    except Exception as exc:
        raise CandidateError(f"{module.__name__}.{step} raised {type(exc).__name__}: {exc} "
                             f"({case.spec})", out) from exc  # fmt: skip
    # Each product on its own: one that raises does not keep the others from being compared.
    raised = []
    for product in provided:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                got = getattr(module, product)(given["x"], given["y"], params, v,
                                               dx=given.get("dx"), reduction=reduction)  # fmt: skip
                out |= {q: np.asarray(getattr(got, _field(q))) for q in SECOND[product]}
        except Exception as exc:  # noqa: BLE001 (a candidate may raise anything)
            raised.append(f"{module.__name__}.{product} raised {type(exc).__name__}: {exc}")
    if raised:
        raise CandidateError(f"{'; '.join(raised)} ({case.spec})", out)
    original = case.inputs() | moved
    modified = [k for k, a in given.items() if not np.array_equal(a, original[k])]
    modified += [f"fwd.{k}" for k, a in kept.items()
                 if not np.array_equal(a, getattr(fwd, k), equal_nan=True)]  # fmt: skip
    if modified:
        raise CandidateError(
            f"{module.__name__} modified its input(s) {', '.join(modified)} ({case.spec}); "
            "inputs must be left untouched",
            out,
        )
    return out
