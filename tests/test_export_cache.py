"""The export cache (``handgrad.export_cache``): a named program is traced once across
processes, and traced again whenever anything it was traced from changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from handgrad import export_cache, jax_cache
from handgrad.polymorphic import Polymorphic


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A cache directory of this test's own."""
    import references.jax_ref  # noqa: F401  (JAX's x64 mode, for the float64 arrays)

    monkeypatch.setenv(jax_cache.VARIABLE, str(tmp_path / "jax"))
    return tmp_path / "jax" / "exports"


def _program(traced: list[int], offset: float) -> Any:
    def program(a: Any, b: Any) -> Any:
        traced.append(1)
        return a @ b + offset

    return program


def _arrays(B: int = 2, N: int = 3, K: int = 4, M: int = 5) -> tuple[Any, Any]:
    rng = np.random.default_rng(B * 1000 + N * 100 + K * 10 + M)
    return rng.standard_normal((B, N, K)), rng.standard_normal((B, K, M))


def test_a_named_program_is_traced_once_across_instances(cache: Path) -> None:
    """A second instance (as in a second process) loads the stored export: no trace, and
    the values of its own arrays, at a shape the first never saw."""
    traced: list[int] = []
    Polymorphic(_program(traced, 1.0), ["BNK", "BKM"], name="test")(*_arrays())
    assert traced == [1]
    assert len(list(cache.glob("*.jax-export"))) == 1
    a, b = _arrays(3, 1, 2, 7)
    got = Polymorphic(_program(traced, 1.0), ["BNK", "BKM"], name="test")(a, b)
    assert traced == [1]
    np.testing.assert_allclose(np.asarray(got), a @ b + 1.0, rtol=1e-12)


@pytest.mark.usefixtures("cache")
def test_a_change_to_what_was_traced_traces_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another name, other dtypes, other axes or edited sources: a key of their own."""
    traced: list[int] = []
    a, b = _arrays()
    Polymorphic(_program(traced, 1.0), ["BNK", "BKM"], name="one")(a, b)
    got = Polymorphic(_program(traced, 2.0), ["BNK", "BKM"], name="two")(a, b)
    np.testing.assert_allclose(np.asarray(got), a @ b + 2.0, rtol=1e-12)
    Polymorphic(_program(traced, 1.0), ["BNK", "BKM"], name="one")(a.astype(np.float32),
                                                                    b.astype(np.float32))  # fmt: skip
    Polymorphic(_program(traced, 1.0), ["BNK", "BKL"], name="one")(a, b)
    assert len(traced) == 4
    monkeypatch.setattr(export_cache, "sources", lambda: "edited")
    got = Polymorphic(_program(traced, 3.0), ["BNK", "BKM"], name="one")(a, b)
    assert len(traced) == 5
    np.testing.assert_allclose(np.asarray(got), a @ b + 3.0, rtol=1e-12)


def test_the_sources_digest_covers_the_engine_and_the_references() -> None:
    digest = export_cache.sources()
    assert len(digest) == 64
    assert export_cache.key("a", ["BN"], ["float64"]) != export_cache.key("b", ["BN"], ["float64"])


def test_a_damaged_entry_is_traced_afresh(cache: Path) -> None:
    traced: list[int] = []
    a, b = _arrays()
    Polymorphic(_program(traced, 1.0), ["BNK", "BKM"], name="test")(a, b)
    (entry,) = cache.glob("*.jax-export")
    entry.write_bytes(entry.read_bytes()[:100])
    got = Polymorphic(_program(traced, 1.0), ["BNK", "BKM"], name="test")(a, b)
    assert len(traced) == 2
    np.testing.assert_allclose(np.asarray(got), a @ b + 1.0, rtol=1e-12)


def test_nothing_is_stored_where_the_cache_is_off(cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv(jax_cache.VARIABLE, "0")
    assert export_cache.directory() is None
    traced: list[int] = []
    for _ in range(2):
        Polymorphic(_program(traced, 1.0), ["BNK", "BKM"], name="test")(*_arrays())
    assert len(traced) == 2
    assert not cache.exists()


def test_an_unnamed_program_is_never_stored(cache: Path) -> None:
    traced: list[int] = []
    for _ in range(2):
        Polymorphic(_program(traced, 1.0), ["BNK", "BKM"])(*_arrays())
    assert len(traced) == 2
    assert not list(cache.glob("*"))
