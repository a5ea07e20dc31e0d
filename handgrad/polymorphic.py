"""JAX programs traced once for every shape (``jax.export`` with symbolic dimensions).

``jax.jit`` traces its function again for each new shape of its arguments. The engine's
batched reference program (a vmap of the value, the gradients and forward-over-reverse
products) took about 0.15-0.2 s to trace, and a process of the default gate saw about 17
buckets per dtype: cProfile of ``pytest tests/test_verify.py -n 0`` (2026-12-03) counted
50 traces and 8 s of tracing in one process, with every compilation already in the
persistent cache. Exported with symbolic dimensions, each function is traced once per
dtype; a new shape then only specialises the exported module and compiles it (or loads it
from the cache, :mod:`handgrad.jax_cache`). A named program's export is itself kept on
disk (:mod:`handgrad.export_cache`), so that a later process skips the trace too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from handgrad import export_cache


class Polymorphic:
    """``function`` jitted through one shape-polymorphic export per tuple of argument
    dtypes. ``axes`` names each positional argument's dimensions, one letter each ("BND":
    a B×N×D array); an argument's letter is the same symbolic dimension wherever it
    appears, so arguments whose sizes disagree are refused by JAX's shape check.

    ``name`` identifies the program in the export cache; it must name everything the trace
    depends on beyond the source and the dtypes (its options). None: never cached."""

    def __init__(self, function: Callable[..., Any], axes: Sequence[str],
                 name: str | None = None) -> None:  # fmt: skip
        self.function = function
        self.axes = tuple(axes)
        self.name = name
        self._calls: dict[tuple[str, ...], Any] = {}

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self.axes):
            raise TypeError(f"{len(self.axes)} arguments expected, {len(args)} given")
        for i, (a, axes) in enumerate(zip(args, self.axes, strict=True)):
            if np.ndim(a) != len(axes):
                raise ValueError(f"argument {i}: {len(axes)} dimensions ({axes}) expected, "
                                 f"shape {np.shape(a)} given")  # fmt: skip
        key = tuple(np.dtype(a.dtype).name for a in args)
        if key not in self._calls:
            self._calls[key] = self._export(key)
        return self._calls[key](*args)

    def _export(self, dtypes: tuple[str, ...]) -> Any:
        import jax
        from jax import export

        x64 = jax.config.read("jax_enable_x64")  # type: ignore[no-untyped-call]
        if not x64 and any(np.dtype(d).itemsize == 8 for d in dtypes):
            # JAX would quietly compute them in 32 bits (references.jax_ref enables x64).
            raise RuntimeError("64-bit arguments need JAX's x64 mode (jax_enable_x64)")
        letters = sorted({letter for axes in self.axes for letter in axes})
        symbols = dict(zip(letters, export.symbolic_shape(",".join(letters)), strict=True))
        specs = [jax.ShapeDtypeStruct(tuple(symbols[a] for a in axes), np.dtype(dtype))  # type: ignore[no-untyped-call]
                 for axes, dtype in zip(self.axes, dtypes, strict=True)]  # fmt: skip
        exported = export_cache.load(self.name, self.axes, dtypes) if self.name else None
        if exported is None:
            exported = export.export(jax.jit(self.function))(*specs)
            if self.name:
                export_cache.save(self.name, self.axes, dtypes, exported)
        return jax.jit(exported.call)
