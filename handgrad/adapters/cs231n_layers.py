"""``cs231n-layers``: CS231n assignment 2's modular layer functions, composed along the network.

    affine_forward(x, w, b) -> (out, cache)    affine_backward(dout, cache) -> (dx, dw, db)
    relu_forward(x) -> (out, cache)            relu_backward(dout, cache) -> dx
    softmax_loss(x, y) -> (loss, dx)           (integer labels, the mean over N)

Each function is fed the candidate's own upstream outputs, so that it is verified where it
stands in the derivation: s1, o1, s2, the loss, dL/ds2, dL/do1, dL/dw2, dL/db2, dL/ds1,
dL/dx, dL/dw1 and dL/db1 (p never leaves softmax_loss). The layer functions have no
regulariser. Natural scope: integer labels and the mean.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from handgrad.adapters.calls import Calls, find, own
from handgrad.candidate import Arrays, Candidate, LoadError, declared_scope
from handgrad.cases import Case
from handgrad.regularisation import L2

NAME = "cs231n-layers"
FUNCTIONS = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")
SCOPE = {"targets": ["labels"], "reductions": ["mean"]}
SOURCES = {
    "s1": "affine_forward (first layer)",
    "o1": "relu_forward",
    "s2": "affine_forward (second layer)",
    "loss": "softmax_loss",
    "dL/ds2": "softmax_loss",
    "dL/do1": "affine_backward (second layer) → dx",
    "dL/dw2": "affine_backward (second layer) → dw",
    "dL/db2": "affine_backward (second layer) → db",
    "dL/ds1": "relu_backward",
    "dL/dx": "affine_backward (first layer) → dx",
    "dL/dw1": "affine_backward (first layer) → dw",
    "dL/db1": "affine_backward (first layer) → db",
}
FED = {"o1": ("s1",), "s2": ("o1",), "loss": ("s2",), "dL/ds2": ("s2",),
       "dL/do1": ("dL/ds2",), "dL/dw2": ("dL/ds2", "o1"), "dL/db2": ("dL/ds2",),
       "dL/ds1": ("dL/do1", "s1"), "dL/dx": ("dL/ds1",), "dL/dw1": ("dL/ds1",),
       "dL/db1": ("dL/ds1",)}  # fmt: skip
"""The candidate's own quantities each call is fed (the caches hold what their forward was
fed: affine_backward's dw reads o1)."""


def functions(namespace: Any) -> dict[str, Callable[..., Any]]:
    """The layer functions ``namespace`` holds (defined or imported), by published name."""
    found = {f: find(namespace, f) for f in FUNCTIONS}
    return {f: getattr(namespace, n) for f, n in found.items()
            if n is not None and callable(getattr(namespace, n))}  # fmt: skip


def detect(module: ModuleType) -> bool:
    """The module defines the five layer functions itself (fc_net only star-imports them)."""
    defined = own(module)
    return all(f.replace("_", "") in defined for f in FUNCTIONS)


def adapt(module: ModuleType, name: str, path: tuple[str, ...], entry: str) -> Candidate:
    if entry:
        raise LoadError(f"--candidate {name}: {NAME} has no entry point to name; give the "
                        "module that holds the layer functions")  # fmt: skip
    fs = functions(module)
    missing = [f for f in FUNCTIONS if f not in fs]
    if missing:
        raise LoadError(f"--candidate {name}: --api {NAME} needs {', '.join(FUNCTIONS)}; "
                        f"{module.__name__} has no {', '.join(missing)}")  # fmt: skip

    def run(case: Case, l2: L2) -> Arrays:  # noqa: ARG001 (the layers have no regulariser)
        calls = Calls(case)
        with calls.running():
            compose(fs, calls)
        return calls.result()

    names = tuple(fs[f].__name__ for f in FUNCTIONS)
    return Candidate(name, run, (), SCOPE | declared_scope(module),
                     (f"{NAME}'s layer functions have no regulariser",), path, api=NAME,
                     names=names, sources=SOURCES, fed=FED)  # fmt: skip


def compose(fs: dict[str, Callable[..., Any]], calls: Calls,
            keep: tuple[str, ...] = tuple(SOURCES)) -> None:  # fmt: skip
    """The network, layer function by layer function, each fed the last one's outputs;
    records the quantities in ``keep``."""

    def kept(q: str, value: Any) -> Any:
        if q in keep:
            calls.keep(q, value)
        return value

    forward, backward = fs["affine_forward"], fs["affine_backward"]
    pair, triple = "(out, cache)", "(dx, dw, db)"
    x, w1, b1 = calls.lend("x"), calls.lend("w1"), calls.lend("b1")
    out = calls.call(SOURCES["s1"], forward, x, w1, b1, roles=("x", "w", "b"))
    s1, cache1 = calls.unpack(out, 2, pair)
    kept("s1", s1)
    o1, relu_cache = calls.unpack(calls.call("relu_forward", fs["relu_forward"], s1,
                                             roles=("x",)), 2, pair)  # fmt: skip
    kept("o1", o1)
    w2, b2 = calls.lend("w2"), calls.lend("b2")
    out = calls.call(SOURCES["s2"], forward, o1, w2, b2, roles=("x", "w", "b"))
    s2, cache2 = calls.unpack(out, 2, pair)
    kept("s2", s2)
    out = calls.call("softmax_loss", fs["softmax_loss"], s2, calls.lend("y"), roles=("x", "y"))
    loss, ds2 = calls.unpack(out, 2, "(loss, dx)")
    kept("loss", loss)
    kept("dL/ds2", ds2)
    label = "affine_backward (second layer)"
    out = calls.call(label, backward, ds2, cache2, roles=("dout", "cache"))
    do1, dw2, db2 = calls.unpack(out, 3, triple)
    kept("dL/do1", do1)
    kept("dL/dw2", dw2)
    kept("dL/db2", db2)
    ds1 = kept("dL/ds1", calls.call("relu_backward", fs["relu_backward"], do1, relu_cache,
                                    roles=("dout", "cache")))  # fmt: skip
    label = "affine_backward (first layer)"
    dx, dw1, db1 = calls.unpack(calls.call(label, backward, ds1, cache1,
                                           roles=("dout", "cache")), 3, triple)  # fmt: skip
    kept("dL/dx", dx)
    kept("dL/dw1", dw1)
    kept("dL/db1", db1)
