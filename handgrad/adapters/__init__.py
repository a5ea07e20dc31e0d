"""Adapters: each turns one way of writing the network into a :class:`handgrad.candidate.Candidate`.

- :mod:`handgrad.adapters.module`: a module with manual's API (``Params``, ``forward``,
  ``backward``, and optionally ``cross_entropy``, ``softmax_jacobian`` and the products);
- :mod:`handgrad.adapters.function`: one plain function returning a mapping of quantities.

The engine knows nothing of them: it sees only what a Candidate gives.
"""
