"""``dlfs``: the layers of *Deep Learning from Scratch* (Saito; ``common/layers.py``,
``ch05/two_layer_net.py``).

    Affine(W, b)         .forward(x); .backward(dout) returns dx and sets .dW and .db
    Relu()               .forward(x); .backward(dout)
    SoftmaxWithLoss()    .forward(x, t) returns the loss and sets .y to p; .backward(dout=1)
    TwoLayerNet(input_size, hidden_size, output_size, weight_init_std=0.01)
        .params, .layers (Affine1, Relu1, Affine2), .lastLayer

The adapter calls the layers one by one (not ``gradient()``, which keeps only the
parameter gradients), so all 13 first-order quantities but the Jacobian are verified. The
layers hold their own references to the weights, so the case's arrays are set on them
too. With one class, labels and one-hot rows have the same size, which is how the book's
layers tell them apart: the adapter gives one-hot rows then. The book's ``Relu.backward`` writes its mask into ``dout``: a note, not a failure,
since each layer is handed its own copy. No regulariser. Natural scope: labels and
one-hot, the mean.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from handgrad.adapters import cs231n_a1
from handgrad.adapters.calls import Calls, find, own, parameter_keys
from handgrad.candidate import Arrays, Candidate, LoadError, declared_scope
from handgrad.cases import Case
from handgrad.regularisation import L2

NAME = "dlfs"
LAYERS = ("Affine", "Relu", "SoftmaxWithLoss")
SCOPE = {"targets": ["labels", "onehot"], "reductions": ["mean"]}
FED = {"o1": ("s1",), "s2": ("o1",), "p": ("s2",), "loss": ("s2",), "dL/ds2": ("p",),
       "dL/do1": ("dL/ds2",), "dL/dw2": ("dL/ds2", "o1"), "dL/db2": ("dL/ds2",),
       "dL/ds1": ("dL/do1", "s1"), "dL/dx": ("dL/ds1",), "dL/dw1": ("dL/ds1",),
       "dL/db1": ("dL/ds1",)}  # fmt: skip
"""The candidate's own quantities each call is fed, or reads back from its layer (the
softmax-with-loss's backward reads its own p; each layer, the input its forward had)."""


def detect(module: ModuleType) -> bool:
    """It defines the three layers, or a TwoLayerNet of its own with the book's
    ``gradient`` method or beside the book's SoftmaxWithLoss (star-imported)."""
    defined = own(module)
    if all(c.lower() in defined for c in LAYERS):
        return True
    cls = cs231n_a1.own_net(module)
    if cls is None:
        return False
    return callable(getattr(cls, "gradient", None)) or find(module, "SoftmaxWithLoss") is not None


def _layers(net: Any, calls: Calls) -> tuple[list[tuple[str, Any]], Any]:
    """The net's (name, layer) in order, and its last layer; a contract failure unless they
    are the book's: an Affine, a ReLU and an Affine, then the softmax with loss."""
    layers = getattr(net, "layers", None)
    last = getattr(net, "lastLayer", None)
    items = list(layers.items()) if isinstance(layers, dict) else []
    affines = [hasattr(layer, "W") for _, layer in items]
    if affines != [True, False, True] or last is None:
        raise calls.fail("does not hold the book's layers: expected .layers holding Affine1, "
                         "Relu1 and Affine2 in order, and .lastLayer")  # fmt: skip
    return items, last


def adapt(module: ModuleType, name: str, path: tuple[str, ...], entry: str) -> Candidate:
    classes = {c: getattr(module, n) for c in LAYERS if (n := find(module, c)) is not None}
    net_name = find(module, entry or cs231n_a1.ENTRY)
    net_class = getattr(module, net_name) if net_name else None
    if entry and not isinstance(net_class, type):
        raise LoadError(f"--candidate {name}: {module.__name__} has no class {entry}")
    if not isinstance(net_class, type) and len(classes) < len(LAYERS):
        raise LoadError(f"--candidate {name}: --api {NAME} needs a TwoLayerNet or the layers "
                        f"{', '.join(LAYERS)}; {module.__name__} has neither")  # fmt: skip
    names = (net_class.__name__,) if isinstance(net_class, type) else tuple(
        classes[c].__name__ for c in LAYERS)  # fmt: skip

    def run(case: Case, l2: L2) -> Arrays:  # noqa: ARG001 (the book's net has no regulariser)
        calls = Calls(case)
        with calls.running():
            if isinstance(net_class, type):
                layers, last = _of_net(calls, net_class)
            else:
                layers, last = _built(calls, classes)
            _network(calls, layers, last)
        return calls.result()

    sources = {"s1": "Affine1.forward", "o1": "Relu1.forward", "s2": "Affine2.forward",
               "p": "SoftmaxWithLoss.forward → y", "loss": "SoftmaxWithLoss.forward",
               "dL/ds2": "SoftmaxWithLoss.backward", "dL/do1": "Affine2.backward",
               "dL/dw2": "Affine2.backward → dW", "dL/db2": "Affine2.backward → db",
               "dL/ds1": "Relu1.backward", "dL/dx": "Affine1.backward",
               "dL/dw1": "Affine1.backward → dW", "dL/db1": "Affine1.backward → db"}  # fmt: skip
    return Candidate(name, run, (), SCOPE | declared_scope(module),
                     (f"{NAME}'s two-layer net has no regulariser",), path, api=NAME,
                     names=names, sources=sources, fed=FED)  # fmt: skip


def _of_net(calls: Calls, cls: Any) -> tuple[list[tuple[str, Any]], Any]:
    """The net's layers, holding the case's arrays (in ``params`` and on the layers)."""
    spec = calls.case.spec
    net = calls.call(f"{cls.__name__}(input_size, hidden_size, output_size)", cls,
                     spec.D, spec.H, spec.C)  # fmt: skip
    items, last = _layers(net, calls)
    keys = parameter_keys(getattr(net, "params", None))
    (_, first), _, (_, second) = items
    for i, layer in ((1, first), (2, second)):
        w, b = calls.lend(f"w{i}"), calls.lend(f"b{i}")
        layer.W, layer.b = w, b
        if keys is not None:
            net.params[keys[f"w{i}"]], net.params[keys[f"b{i}"]] = w, b
    return items, last


def _built(calls: Calls, classes: dict[str, Any]) -> tuple[list[tuple[str, Any]], Any]:
    """The book's composition from the layer classes alone."""
    a, r, s = (classes[c] for c in LAYERS)
    first = calls.call(f"{a.__name__}(W, b)", a, calls.lend("w1"), calls.lend("b1"))
    relu = calls.call(f"{r.__name__}()", r)
    second = calls.call(f"{a.__name__}(W, b)", a, calls.lend("w2"), calls.lend("b2"))
    return [("Affine1", first), ("Relu1", relu), ("Affine2", second)], calls.call(
        f"{s.__name__}()", s)  # fmt: skip


def _network(calls: Calls, layers: list[tuple[str, Any]], last: Any) -> None:
    (n1, first), (nr, relu), (n2, second) = layers
    s1 = calls.call(f"{n1}.forward", first.forward, calls.lend("x"), roles=("x",))
    calls.keep("s1", s1)
    o1 = calls.call(f"{nr}.forward", relu.forward, s1, roles=("x",))
    calls.keep("o1", o1)
    s2 = calls.call(f"{n2}.forward", second.forward, o1, roles=("x",))
    calls.keep("s2", s2)
    t = calls.lend("y")
    if calls.case.labels and calls.case.spec.C == 1:
        # One class: labels (N,) and one-hot N×1 have the same size, and the book's layers
        # tell them apart by size alone, so they would read labels as one-hot rows.
        t = np.ones((calls.case.spec.N, 1), calls.case.spec.dtype)
    loss = calls.call("SoftmaxWithLoss.forward", last.forward, s2, t, roles=("x", "t"))
    calls.keep("loss", loss)
    calls.keep("p", calls.read(last, "y"))
    ds2 = calls.call("SoftmaxWithLoss.backward", last.backward, 1, roles=("dout",))
    calls.keep("dL/ds2", ds2)
    do1 = calls.call(f"{n2}.backward", second.backward, ds2, roles=("dout",))
    calls.keep("dL/do1", do1)
    calls.keep("dL/dw2", calls.read(second, "dW"))
    calls.keep("dL/db2", calls.read(second, "db"))
    ds1 = calls.call(f"{nr}.backward", relu.backward, do1, roles=("dout",))
    calls.keep("dL/ds1", ds1)
    dx = calls.call(f"{n1}.backward", first.backward, ds1, roles=("dout",))
    calls.keep("dL/dx", dx)
    calls.keep("dL/dw1", calls.read(first, "dW"))
    calls.keep("dL/db1", calls.read(first, "db"))
