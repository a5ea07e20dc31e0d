"""The network in idiomatic JAX; every gradient comes from ``jax.grad`` / ``jax.jacrev``.

JAX silently computes float64 input in float32 unless x64 is enabled, so importing this
module enables it before any array is created.
"""

from __future__ import annotations

import functools

import jax

jax.config.update("jax_enable_x64", True)  # type: ignore[no-untyped-call]

import jax.numpy as jnp

Array = jax.Array


def loss_from_s2(s2: Array, y: Array, reduction: str) -> Array:
    """Cross-entropy −Σ y·log_softmax(s2); integer y holds class labels."""
    logp = jax.nn.log_softmax(s2, axis=1)
    if jnp.issubdtype(y.dtype, jnp.integer):
        per_row = -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
    else:
        per_row = -jnp.sum(y * logp, axis=1)
    return jnp.mean(per_row) if reduction == "mean" else jnp.sum(per_row)


def loss_from_o1(o1: Array, w2: Array, b2: Array, y: Array, reduction: str) -> Array:
    return loss_from_s2(o1 @ w2 + b2, y, reduction)


def loss_from_s1(s1: Array, w2: Array, b2: Array, y: Array, reduction: str) -> Array:
    return loss_from_o1(jax.nn.relu(s1), w2, b2, y, reduction)


def penalty(w1: Array, b1: Array, w2: Array, b2: Array, l2: Array | float,
            l2_biases: bool = False) -> Array:  # fmt: skip
    """L2 regularisation: l2·(‖w1‖² + ‖w2‖²), plus l2·(‖b1‖² + ‖b2‖²) under ``l2_biases``."""
    total = jnp.sum(w1**2) + jnp.sum(w2**2)
    if l2_biases:
        total = total + jnp.sum(b1**2) + jnp.sum(b2**2)
    return l2 * total


def loss(x: Array, w1: Array, b1: Array, w2: Array, b2: Array, y: Array, reduction: str,
         l2: Array | float | None = None, l2_biases: bool = False) -> Array:  # fmt: skip
    """The loss: cross-entropy, plus the L2 penalty when ``l2`` is given."""
    data = loss_from_s1(x @ w1 + b1, w2, b2, y, reduction)
    return data if l2 is None else data + penalty(w1, b1, w2, b2, l2, l2_biases)


def softmax_jacobian(s2: Array) -> Array:
    """dp/ds2 per row, N×C×C, by reverse-mode ``jacrev``."""
    jac: Array = jax.vmap(jax.jacrev(jax.nn.softmax))(s2)
    return jac


def reference(
    x: Array,
    y: Array,
    w1: Array,
    b1: Array,
    w2: Array,
    b2: Array,
    reduction: str,
    l2: Array | float | None = None,
    l2_biases: bool = False,
) -> dict[str, Array]:
    """Loss, intermediates and every gradient (the Jacobian is separate:
    ``softmax_jacobian(s2)`` works row by row). Pure, so callers may ``jit`` or ``vmap`` it."""
    value, (gx, gw1, gb1, gw2, gb2) = jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4))(
        x, w1, b1, w2, b2, y, reduction, l2, l2_biases
    )
    s1 = x @ w1 + b1
    o1 = jax.nn.relu(s1)
    s2 = o1 @ w2 + b2
    return {
        "loss": value,
        "s1": s1,
        "o1": o1,
        "s2": s2,
        "p": jax.nn.softmax(s2, axis=1),
        "dL/ds2": jax.grad(loss_from_s2)(s2, y, reduction),
        "dL/do1": jax.grad(loss_from_o1)(o1, w2, b2, y, reduction),
        "dL/ds1": jax.grad(loss_from_s1)(s1, w2, b2, y, reduction),
        "dL/dx": gx,
        "dL/dw1": gw1,
        "dL/db1": gb1,
        "dL/dw2": gw2,
        "dL/db2": gb2,
    }


# --- second order: every product from autodiff of the functions above -------------------------

PARAMS = ("x", "w1", "b1", "w2", "b2")
"""What a direction moves, in the order the functions below take them."""


def forward(x: Array, w1: Array, b1: Array, w2: Array, b2: Array, y: Array, reduction: str,
            l2: Array | float | None = None, l2_biases: bool = False) -> dict[str, Array]:  # fmt: skip
    """The forward pass and the (regularised) loss, for forward mode."""
    s1 = x @ w1 + b1
    o1 = jax.nn.relu(s1)
    s2 = o1 @ w2 + b2
    value = loss_from_s2(s2, y, reduction)
    if l2 is not None:
        value = value + penalty(w1, b1, w2, b2, l2, l2_biases)
    return {"s1": s1, "o1": o1, "s2": s2, "p": jax.nn.softmax(s2, axis=1), "loss": value}


def gradients(x: Array, w1: Array, b1: Array, w2: Array, b2: Array, y: Array, reduction: str,
              l2: Array | float | None = None, l2_biases: bool = False) -> dict[str, Array]:  # fmt: skip
    """Every gradient, reverse mode (``reference``'s), as a function of the parameters."""
    out = reference(x, y, w1, b1, w2, b2, reduction, l2, l2_biases)
    return {k: v for k, v in out.items() if k.startswith("dL/")}


def jvp(primals: tuple[Array, ...], tangents: tuple[Array, ...], y: Array, reduction: str,
        l2: Array | float | None = None, l2_biases: bool = False) -> dict[str, Array]:  # fmt: skip
    """Forward mode: the tangent of s1, o1, s2, p and L along ``tangents`` (ẋ, ẇ1, ḃ1, ẇ2,
    ḃ2; ẋ zero to hold x fixed)."""
    out: dict[str, Array]
    f = functools.partial(forward, y=y, reduction=reduction, l2=l2, l2_biases=l2_biases)
    _, out = jax.jvp(f, primals, tangents)
    return out


def hvp(primals: tuple[Array, ...], tangents: tuple[Array, ...], y: Array, reduction: str,
        l2: Array | float | None = None, l2_biases: bool = False) -> dict[str, Array]:  # fmt: skip
    """Forward-over-reverse: the tangent of every gradient. At dL/dx … dL/db2 it is the
    Hessian in (x, w1, b1, w2, b2) times the direction."""
    out: dict[str, Array]
    f = functools.partial(gradients, y=y, reduction=reduction, l2=l2, l2_biases=l2_biases)
    _, out = jax.jvp(f, primals, tangents)
    return out


def penalty_terms(params: tuple[Array, ...], tangents: tuple[Array, ...], l2: Array | float,
                  l2_biases: bool = False) -> dict[str, Array]:  # fmt: skip
    """The L2 penalty alone: its value ("loss"), its gradient in w1, b1, w2, b2 ("dL/dw1",
    …), its directional derivative along ``tangents`` (ẇ1, ḃ1, ẇ2, ḃ2; "L̇") and its
    Hessian times them ("H·dL/dw1", …), all by autodiff."""

    def f(w1: Array, b1: Array, w2: Array, b2: Array) -> Array:
        return penalty(w1, b1, w2, b2, l2, l2_biases)

    value, grads = jax.value_and_grad(f, argnums=(0, 1, 2, 3))(*params)
    _, slope = jax.jvp(f, params, tangents)
    _, hv = jax.jvp(jax.grad(f, argnums=(0, 1, 2, 3)), params, tangents)
    names = ("dL/dw1", "dL/db1", "dL/dw2", "dL/db2")
    return ({"loss": value, "L̇": slope} | dict(zip(names, grads, strict=True))
            | {f"H·{n}": h for n, h in zip(names, hv, strict=True)})  # fmt: skip


def ggn_vp(primals: tuple[Array, ...], tangents: tuple[Array, ...], y: Array, reduction: str,
           l2: Array | float | None = None, l2_biases: bool = False) -> dict[str, Array]:  # fmt: skip
    """Gv = Jᵀ H J v: J v by jvp of s2, H (the loss's Hessian in s2) by jvp of its
    gradient, Jᵀ by vjp, also of s2 as a function of o1 and of s1 for the intermediates.
    The L2 penalty is its own Gauss-Newton term (its Hessian): Gv gains its Hessian times
    the direction."""
    x, w1, b1, w2, b2 = primals

    def s2_of_s1(s1: Array) -> Array:
        return jax.nn.relu(s1) @ w2 + b2

    def s2_of(x: Array, w1: Array, b1: Array, w2: Array, b2: Array) -> Array:
        return jax.nn.relu(x @ w1 + b1) @ w2 + b2

    s2, jv = jax.jvp(s2_of, primals, tangents)
    _, hjv = jax.jvp(lambda s: jax.grad(loss_from_s2)(s, y, reduction), (s2,), (jv,))
    gx, gw1, gb1, gw2, gb2 = jax.vjp(s2_of, *primals)[1](hjv)
    (go1,) = jax.vjp(lambda o1: o1 @ w2 + b2, jax.nn.relu(x @ w1 + b1))[1](hjv)
    (gs1,) = jax.vjp(s2_of_s1, x @ w1 + b1)[1](hjv)
    out = {"dL/ds2": hjv, "dL/do1": go1, "dL/ds1": gs1, "dL/dx": gx, "dL/dw1": gw1,
           "dL/db1": gb1, "dL/dw2": gw2, "dL/db2": gb2}  # fmt: skip
    if l2 is not None:
        pen = penalty_terms(primals[1:], tangents[1:], l2, l2_biases)
        for name in ("dL/dw1", "dL/db1", "dL/dw2", "dL/db2"):
            out[name] = out[name] + pen[f"H·{name}"]
    return out
