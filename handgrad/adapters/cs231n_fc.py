"""``cs231n-fc``: CS231n assignment 2's ``TwoLayerNet`` (``classifiers/fc_net.py``).

    net = TwoLayerNet(input_dim, hidden_dim, num_classes, weight_scale=1e-3, reg=0.0)
    net.params, net.reg   # as assignment 1's params; reg is the L2 strength
    scores = net.loss(X)           # y is None: s2
    loss, grads = net.loss(X, y)

``--l2`` reaches it as ``reg``. The starter code asks for ½·reg·Σ‖W‖², so "half" is this
family's form; ``--l2-form full`` overrides it. Verified: s2, the loss and the four
parameter gradients. Its module star-imports the layer functions: when they are there,
they are also verified along the network (:mod:`handgrad.adapters.cs231n_layers`), for
s1, o1, dL/ds2, dL/do1, dL/ds1 and dL/dx, which the class never returns; where both give
a quantity, the class's is verified. Natural scope: integer labels and the mean.
"""

from __future__ import annotations

from types import ModuleType

from handgrad.adapters import cs231n_a1, cs231n_layers
from handgrad.adapters.calls import Calls, parameters
from handgrad.adapters.module import takes
from handgrad.candidate import Arrays, Candidate, declared_scope
from handgrad.cases import Case
from handgrad.regularisation import L2

NAME = "cs231n-fc"
SCOPE = cs231n_a1.SCOPE | {"l2_form": "half"}
FROM_LAYERS = ("s1", "o1", "dL/ds2", "dL/do1", "dL/ds1", "dL/dx")
FED = {"o1": ("s1",), "dL/do1": ("dL/ds2",), "dL/ds1": ("dL/do1", "s1"), "dL/dx": ("dL/ds1",)}
"""What the layer functions are fed of what is kept of theirs (their s2 is not the class's)."""


def detect(module: ModuleType) -> bool:
    """Its own TwoLayerNet takes ``reg`` when built, and its ``loss`` does not."""
    cls = cs231n_a1.own_net(module)
    if cls is None:
        return False
    return "reg" in parameters(cls) and "reg" not in parameters(getattr(cls, "loss", None))


def adapt(module: ModuleType, name: str, path: tuple[str, ...], entry: str) -> Candidate:
    cls = cs231n_a1.entry_class(module, name, entry, NAME)
    layers = cs231n_layers.functions(module)
    layers = layers if len(layers) == len(cs231n_layers.FUNCTIONS) else {}
    has_reg = takes(cls, "reg")

    def run(case: Case, l2: L2) -> Arrays:
        calls = Calls(case)
        with calls.running():
            label = f"{cls.__name__}(input_dim, hidden_dim, num_classes, reg=R)"
            keywords = {"reg": l2.strength} if has_reg else {}
            net, keys = cs231n_a1.build(calls, cls, label, keywords)
            net.reg = l2.strength
            x = calls.lend("x")
            calls.keep("s2", calls.call(f"{cls.__name__}.loss(X)", net.loss, x, roles=("X",)))
            returned = calls.call(f"{cls.__name__}.loss(X, y)", net.loss, x, calls.lend("y"),
                                  roles=("X", "y"))  # fmt: skip
            cs231n_a1.gradients(calls, returned, keys)
            if layers:
                cs231n_layers.compose(layers, calls, FROM_LAYERS)
        return calls.result()

    sources = cs231n_a1.sources(cls)
    names: tuple[str, ...] = (cls.__name__, f"{cls.__name__}.loss")
    if layers:
        sources |= {q: cs231n_layers.SOURCES[q] for q in FROM_LAYERS}
        names += tuple(layers[f].__name__ for f in cs231n_layers.FUNCTIONS)
    return Candidate(name, run, (), SCOPE | declared_scope(module), (), path, api=NAME,
                     names=names, sources=sources, fed=FED if layers else {})  # fmt: skip
