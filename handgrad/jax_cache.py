"""JAX's persistent compilation cache, in the user's cache directory.

Each bucket's program takes JAX about 0.3 s to compile, and a process compiles about 30 of
them (both dtypes), so every fresh process (each pytest-xdist worker, each nox session,
each ``handgrad run``) spent about 10 s compiling the same programs. With the cache on,
the first process stores them and the next ones load them.

JAX stores nothing that compiles in under ``jax_persistent_cache_min_compile_time_secs``
(1 s by default), so that floor is lowered to 0 here.

Where it lives, first that applies:
  - ``HANDGRAD_JAX_CACHE=0`` (or ``off``): no cache;
  - ``HANDGRAD_JAX_CACHE=DIR``: that directory;
  - a ``jax_compilation_cache_dir`` the user already set (JAX's own option or its
    ``JAX_COMPILATION_CACHE_DIR``): theirs, untouched;
  - ``$XDG_CACHE_HOME/handgrad/jax``, else ``~/.cache/handgrad/jax``.

A directory that cannot be created or written, or no home directory to put it in, turns
the cache off: the gate runs as before, compiling in each process. The setting is JAX's,
for the whole process: where a script calls ``handgrad.verify`` and runs JAX of its own,
its programs are cached too (``HANDGRAD_JAX_CACHE=0`` keeps them out). JAX treats its cache as trusted code, so it is kept in
the user's own directory, never a shared one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

VARIABLE = "HANDGRAD_JAX_CACHE"
OFF = ("0", "off", "false", "no")


def directory() -> Path | None:
    """The cache directory that applies (see the module docstring), or None for none."""
    chosen = os.environ.get(VARIABLE, "").strip()
    if chosen.lower() in OFF:
        return None
    try:
        if chosen:
            return Path(chosen).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:  # no home directory to be found (a container's unnamed user)
        return None
    return Path(base) / "handgrad" / "jax"


def writable(path: Path) -> bool:
    """Whether ``path`` can be created and written into (a test file, removed at once)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def enable() -> Path | None:
    """Turn the cache on before the first compilation; the directory used, or None.

    Called by the engine before it builds its first JAX program; a second call changes
    nothing.
    """
    import jax

    own = getattr(jax.config, "jax_compilation_cache_dir", None)
    if own:
        return Path(own)
    path = directory()
    if path is None or not writable(path):
        return None
    update = jax.config.update
    update("jax_compilation_cache_dir", str(path))  # type: ignore[no-untyped-call]
    update("jax_persistent_cache_min_compile_time_secs", 0.0)  # type: ignore[no-untyped-call]
    update("jax_persistent_cache_min_entry_size_bytes", 0)  # type: ignore[no-untyped-call]
    return path
