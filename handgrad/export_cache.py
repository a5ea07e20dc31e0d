"""The engine's traced JAX programs (``jax.export``), stored beside JAX's compilation cache.

Tracing the batched reference program and the Jacobian stage's program took a fresh
process about 1.3 s (four exports: two programs, two dtypes), every process again: each
pytest-xdist worker, each nox session, each ``handgrad run``. JAX's persistent cache keeps
compiled programs only; this keeps the exports they are compiled from, serialized
(``Exported.serialize``, a few kB each), in ``exports/`` under :func:`jax_cache.directory`
(JAX's own cache ignores a subdirectory). ``HANDGRAD_JAX_CACHE=0`` turns both off.

A stored export is used only where everything it was traced from is unchanged. Its key
hashes the program's name, its argument axes and dtypes, the JAX and jaxlib versions, the
JAX options that change a trace, and the source of every module of ``handgrad`` and
``references``: editing any of them traces afresh. An entry that cannot be read or
written is ignored; the program is traced as without a cache. Like JAX's cache, it is
trusted code, kept in the user's own directory.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from handgrad import jax_cache

OPTIONS = ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_dtype_promotion")
"""JAX options whose value changes what a trace produces."""


@functools.cache
def sources() -> str:
    """A digest of the source of every module of ``handgrad`` and ``references``."""
    import handgrad
    import references

    digest = hashlib.sha256()
    for package in (handgrad, references):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def key(name: str, axes: Sequence[str], dtypes: Sequence[str]) -> str:
    """The file name of program ``name``'s export for these argument axes and dtypes."""
    import jax

    options = [repr(getattr(jax.config, option, None)) for option in OPTIONS]
    parts = [name, ",".join(axes), ",".join(dtypes), metadata.version("jax"), metadata.version("jaxlib"),
             *options, sources()]  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode()).hexdigest() + ".jax-export"


def directory() -> Path | None:
    """Where exports are kept, or None where the cache is off or cannot be written."""
    base = jax_cache.directory()
    if base is None or not jax_cache.writable(base / "exports"):
        return None
    return base / "exports"


def load(name: str, axes: Sequence[str], dtypes: Sequence[str]) -> Any | None:
    """The stored export, or None where there is none or it cannot be read."""
    where = directory()
    if where is None:
        return None
    from jax import export

    path = where / key(name, axes, dtypes)
    try:
        data = path.read_bytes()
    except OSError:  # none stored yet
        return None
    try:
        return export.deserialize(bytearray(data))
    except Exception:  # noqa: BLE001 - a truncated or foreign entry: trace afresh
        return None


def save(name: str, axes: Sequence[str], dtypes: Sequence[str], exported: Any) -> None:
    """Store ``exported``; written whole or not at all (another process may be reading)."""
    where = directory()
    if where is None:
        return
    path = where / key(name, axes, dtypes)
    temporary = None
    try:
        data = exported.serialize()
        with tempfile.NamedTemporaryFile(dir=where, delete=False) as out:
            temporary = Path(out.name)
            out.write(data)
        temporary.replace(path)
    except Exception:  # noqa: BLE001 - no flatbuffers, a full disk: run uncached
        if temporary is not None:
            temporary.unlink(missing_ok=True)
