"""Oracles: the same network in PyTorch and in JAX, every derivative from autodiff.

Nothing here is derived by hand, batched or padded. Each module exposes, for one case:

* ``reference(x, y, w1, b1, w2, b2, reduction)``: the loss, the intermediates s1, o1, s2
  and p, and the gradients dL/ds2, dL/do1, dL/dw2, dL/db2, dL/ds1, dL/dx, dL/dw1 and
  dL/db1, keyed by those names;
* ``softmax_jacobian(s2)``: dp/ds2, N×C×C, one C×C Jacobian per row of s2.

Both are pure functions of their arrays, so the engine (``handgrad``) may ``vmap`` them
over a batch of cases or stack the rows of many cases; the quantities are declared in
``handgrad.quantities``.
"""
