"""What the family adapters share: the candidate's names, found tolerantly, and one case's
calls to its functions and methods, each fed its own copies and recorded.

A layer API is verified where each layer stands in the derivation: every call is fed the
candidate's own upstream outputs, so each quantity comes from one function, whose name
the messages give. Each call gets a copy of what it is fed. A write into the case's own
arrays (x, y and the parameters, lent once per case) breaks the contract; a write into an
upstream output (relu_backward's ``dout``) is a note, because nothing here reads it again.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from handgrad.candidate import NOTES, Arrays, CandidateError, calling
from handgrad.cases import Case

_DOT = np.dot  # NumPy's own, taken before any candidate is imported


def patched_dot() -> bool:
    """Whether the candidate's import replaced ``np.dot`` (``nnfs.init()`` does)."""
    return np.dot is not _DOT


def _key(name: str) -> str:
    """A name as it is compared: case and underscores aside (``Loss_CategoricalCrossEntropy``
    is the book's ``Loss_CategoricalCrossentropy``)."""
    return re.sub(r"_", "", name).lower()


def own(module: ModuleType) -> dict[str, str]:
    """The names the module defines itself (not those it imports), by their compared form."""
    return {_key(n): n for n, obj in list(vars(module).items())
            if _module_of(obj) == module.__name__}  # fmt: skip


def _module_of(obj: Any) -> Any:
    try:
        return getattr(obj, "__module__", None)
    except Exception:  # noqa: BLE001 (a lazy object of the candidate's may raise anything)
        return None


def find(namespace: Any, wanted: str) -> str | None:
    """The attribute of ``namespace`` that is ``wanted``, exactly or but for case and
    underscores; None if there is none."""
    if hasattr(namespace, wanted):
        return wanted
    matches = [n for n in dir(namespace) if _key(n) == _key(wanted)]
    return matches[0] if matches else None


def as_value(key: str, value: Any, dtype: np.dtype[Any]) -> Any:
    """What a candidate returned, as an array of its own. A Python float carries no dtype: it
    is the loss in the case's dtype. A NumPy scalar keeps its dtype, so that a float64
    loss of float32 inputs is caught."""
    if key == "loss" and type(value) is float:
        return np.asarray(value, dtype=dtype)
    return np.array(value, copy=True)


class Calls:
    """One case's calls: what they gave, what they wrote into, and which one is running."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.out: Arrays = {}
        self.notes: list[str] = []
        self.step = ""
        self._inputs = case.inputs()
        self._lent: list[tuple[str, Any, Any]] = []  # (name, original, the copy lent)
        self._modified: dict[str, str] = {}  # a lent array's name: the call that wrote into it

    def lend(self, name: str) -> Any:
        """A copy of the case's array ``name`` (x, y, w1, …) to give the candidate; a write
        into it is found when the case ends."""
        original = self._inputs[name]
        copy = original.copy()
        self._lent.append((name, original, copy))
        return copy

    def call(self, label: str, f: Any, *args: Any, roles: Sequence[str] = (),
             keywords: dict[str, Any] | None = None) -> Any:  # fmt: skip
        """``f(*args, **keywords)``, recorded as the call in progress ``label`` (for a hang's
        or crash's message). An array that was not lent is given as a copy; a write into it
        is a note, naming the argument by ``roles``."""
        self.step = calling(label)
        fed = [a if self._is_lent(a) or not isinstance(a, np.ndarray) else a.copy()
               for a in args]  # fmt: skip
        returned = f(*fed, **(keywords or {}))
        for i, (given, passed) in enumerate(zip(args, fed, strict=True)):
            if passed is not given and not np.array_equal(passed, given, equal_nan=True):
                role = roles[i] if i < len(roles) else f"argument {i + 1}"
                note = (f"{label} writes into its {role}: harmless here, wrong if the caller "
                        f"reads {role} again")  # fmt: skip
                if note not in self.notes:
                    self.notes.append(note)
        for name, original, copy in self._lent:
            if name not in self._modified and not np.array_equal(copy, original):
                self._modified[name] = label
        return returned

    def _is_lent(self, a: Any) -> bool:
        return any(a is copy for _, _, copy in self._lent)

    def keep(self, quantity: str, value: Any) -> None:
        """Record ``value`` as the candidate's ``quantity`` (a copy: later calls may write)."""
        self.out[quantity] = as_value(quantity, value, np.dtype(self.case.spec.dtype))

    def unpack(self, returned: Any, n: int, what: str) -> tuple[Any, ...]:
        """The ``n`` values of what the running call returned; a contract failure naming
        ``what`` it should have returned otherwise."""
        if not isinstance(returned, tuple | list) or len(returned) != n:
            kind = f"a {len(returned)}-tuple" if isinstance(returned, tuple | list) else (
                f"a {type(returned).__name__}")  # fmt: skip
            raise CandidateError(f"{self.step} returned {kind}, expected {what} "
                                 f"({self.case.spec})", self.out)  # fmt: skip
        return tuple(returned)

    def fail(self, why: str) -> CandidateError:
        """A contract failure of the running call, keeping what came before it."""
        return CandidateError(f"{self.step} {why} ({self.case.spec})", self._partial())

    def _partial(self) -> Arrays:
        return self.out | {NOTES: np.array(self.notes)} if self.notes else self.out

    def read(self, obj: Any, attribute: str) -> Any:
        """What the last call left in ``obj.attribute`` (a layer's ``.output``, ``.dW``);
        a contract failure naming the call and the attribute if it left nothing there."""
        try:
            return getattr(obj, attribute)
        except AttributeError:
            raise self.fail(f"set no .{attribute}") from None

    @contextmanager
    def running(self) -> Iterator[None]:
        """The calls' block: a call that raises is a contract failure of that call, keeping
        what the earlier ones gave; a candidate's overflow warnings are not errors."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                yield
        except CandidateError:
            raise
        except Exception as exc:
            raise CandidateError(f"{self.step} raised {type(exc).__name__}: {exc} "
                                 f"({self.case.spec})", self._partial()) from exc  # fmt: skip

    def result(self) -> Arrays:
        """Every quantity given, with the notes; a contract failure if a lent array was
        written into."""
        if self._modified:
            which = "; ".join(f"{label} modified its input {name}"
                              for name, label in self._modified.items())  # fmt: skip
            raise CandidateError(f"{which} ({self.case.spec}); inputs must be left untouched",
                                 self._partial())  # fmt: skip
        return self._partial()


PARAMETERS = ("w1", "b1", "w2", "b2")


def parameter_keys(params: Any) -> dict[str, str] | None:
    """The keys of a ``params`` dict that hold w1, b1, w2 and b2 (``'W1'``, ``'b1'``, …,
    case aside); None unless it is a dict holding all four."""
    if not isinstance(params, dict):
        return None
    keys = {str(k).lower(): k for k in params}
    if not all(p in keys for p in PARAMETERS):
        return None
    return {p: keys[p] for p in PARAMETERS}


def parameters(f: Any) -> list[str]:
    """The names of ``f``'s parameters (self aside for a class or bound method); [] if it
    has no signature."""
    try:
        return list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        return []
