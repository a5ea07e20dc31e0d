"""Oracles: the same network in PyTorch and in JAX, every gradient from autograd.

Nothing here is derived by hand. Each module exposes ``reference(x, y, w1, b1, w2, b2,
reduction)`` returning a dict of NumPy arrays keyed by :data:`QUANTITIES`.
"""

QUANTITIES = (
    "loss", "s1", "o1", "s2", "p",
    "dL/ds2", "dL/do1", "dL/dw2", "dL/db2", "dL/ds1", "dL/dx", "dL/dw1", "dL/db1",
    "dp/ds2",
)  # fmt: skip
