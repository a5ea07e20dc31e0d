"""The implementation under test: found by name, asked what it provides, run case by case.

A candidate is named in one of these ways (``--candidate``):

- ``package.module``: a module with manual's API (:mod:`handgrad.adapters.module`);
- ``package.module:function``: a plain function (:mod:`handgrad.adapters.function`);
- ``path/to/file.py`` or ``path/to/file.py:function``: either, imported from a file
  (its stem need not be a Python identifier: ``9_28_full_code.py`` is fine);
- a module written against a published API (``--api``, or detected): CS231n's
  assignments, the nnfs book, deep-learning-from-scratch (:mod:`handgrad.adapters.families`).
  There ``module:Name`` names the family's entry point, a class.

``--path DIR`` (repeatable) puts directories first on ``sys.path`` for the import.

Whatever its form, the engine sees a :class:`Candidate`: its name, the second-order
products it has, its declared scope (``HANDGRAD_SCOPE``, or its family's), why it cannot
take ``--l2`` if it cannot, which of its own functions gives each quantity, and ``run``,
which gives every quantity it provides for one case, under the registry's names. A
quantity it does not provide is absent, and the gate verifies exactly what is there.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from numpy.typing import NDArray

from handgrad.cases import Case
from handgrad.regularisation import L2

Arrays = dict[str, NDArray[Any]]
SCOPE_ATTRIBUTE = "HANDGRAD_SCOPE"
TIMEOUT = 60.0
"""Seconds a case's calls may take, by default (``--timeout``)."""


NOTES = "notes"
"""The key, outside the registry, under which ``run`` may return its notes on a case (an
array of strings): what is worth saying and is not a failure, such as a layer that writes
into its upstream gradient where nothing reads it again."""
RECORD_CALL: Callable[[str], None] | None = None
"""In a worker: what writes the candidate's call in progress into the page the gate reads
when a case hangs or crashes (:mod:`handgrad.worker`)."""
LAST_CALL = ""
"""The candidate's call in progress, or the last one made."""


def calling(call: str) -> str:
    """Record ``call`` as the candidate's call in progress, and return it."""
    global LAST_CALL  # noqa: PLW0603 (one process-wide record, read by the worker)
    LAST_CALL = call
    if RECORD_CALL is not None:
        RECORD_CALL(call)
    return call


class CandidateError(AssertionError):
    """The candidate broke the contract on one case: it raised, or it wrote into its inputs.

    ``partial`` holds what it did return before that (e.g. the forward pass of a backward
    that raised), so that those values can still be compared: a NaN in p explains a crash
    in softmax_jacobian better than any guess.
    """

    def __init__(self, message: str, partial: Arrays | None = None) -> None:
        super().__init__(message)
        self.partial = partial or {}


class LoadError(ValueError):
    """The candidate cannot be verified at all: it cannot be imported, it lacks the API, or
    an option asks for what it cannot do. The run stops before any case (exit code 2)."""


@dataclass(frozen=True)
class Candidate:
    """A candidate as the engine sees it, whatever API it was written against."""

    name: str
    """As given to ``--candidate``; the rerun commands repeat it."""
    run: Callable[[Case, L2], Arrays]
    """Every quantity it provides for one case, by registry name; raises CandidateError."""
    products: tuple[str, ...] = ()
    """The second-order products it has (in the registry's order)."""
    declared: Mapping[str, Any] = field(default_factory=dict)
    """Its ``HANDGRAD_SCOPE`` ({} if none)."""
    without_l2: tuple[str, ...] = ()
    """Why it cannot take a regulariser, one reason each ("my.backward takes no l2=
    parameter"): it can be verified with ``--l2`` only when this is empty."""
    path: tuple[str, ...] = ()
    """The ``--path`` directories it was imported with."""
    api: str = "module"
    """How it is called: "module", "function" or a family of
    :mod:`handgrad.adapters.families` ("cs231n-layers", …)."""
    names: tuple[str, ...] = ()
    """The candidate's own names the adapter found and called, for the report."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Which of its functions or methods gives each quantity ("dL/ds1": "relu_backward"),
    where that is not plain from the quantity's name; the messages name it."""
    explicit: bool = False
    """Whether ``--api`` named ``api`` (else it was detected): a rerun repeats it."""
    fed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The candidate's own quantities its adapter fed into the call that gives each one
    (a layer API: dL/dx ← dL/ds1). A failure fed a failing input is blamed on that input."""
    notes: tuple[str, ...] = ()
    """What the adapter found at import that is worth saying and is not a failure."""

    @property
    def command(self) -> str:
        """The options that name it again: ``--candidate NAME``, each ``--path`` and its
        ``--api``, unless that is detected from the name alone."""
        api = self.explicit or self.api not in ("module", "function")
        return " ".join([f"--candidate {shlex.quote(self.name)}",
                         *(f"--path {shlex.quote(p)}" for p in self.path),
                         *([f"--api {self.api}"] if api else [])])  # fmt: skip

    def check_l2(self, l2: L2) -> None:
        """A LoadError unless the candidate can take the declared regulariser."""
        if l2 and self.without_l2:
            raise LoadError(f"--l2: {self.name} cannot be verified with L2 regularisation: "
                            f"{'; '.join(self.without_l2)}")  # fmt: skip

    def submit(self, cases: Sequence[Case], l2: L2) -> Callable[[], list[tuple[Arrays, str]]]:
        """Start ``run_all`` and return what waits for its result: in a worker the candidate
        runs while the gate computes the references; here it runs when waited for."""
        return lambda: self.run_all(cases, l2)

    def run_all(self, cases: Sequence[Case], l2: L2) -> list[tuple[Arrays, str]]:
        """Every case's (values, error): the error is "" unless it broke the contract, and
        the values are then what it returned before that."""
        out = []
        for case in cases:
            try:
                values = self.run(case, l2)
            except CandidateError as exc:
                out.append((exc.partial, str(exc)))
                continue
            if not any(k.startswith("dL/d") for k in values):
                error = (f"{self.name} returned no gradient ({case.spec}): at least one "
                         "dL/d· is required, e.g. dL/dw1")  # fmt: skip
                out.append((values, error))
                continue
            out.append((values, ""))
        return out


def _split(name: str) -> tuple[str, str]:
    """(module or file, attribute): the attribute follows the last colon when it is a
    Python identifier (so that a Windows drive letter is not taken for one)."""
    head, sep, tail = name.rpartition(":")
    if sep and tail.isidentifier() and head:
        return head, tail
    return name, ""


def _where(exc: BaseException) -> str:
    """The file and line an exception was raised at, for a one-line message: the last
    frame outside the import machinery and handgrad ("" if there is none)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}, line {exc.lineno})"
    machinery = (str(Path(__file__).parent), str(Path(importlib.__file__).parent), "<frozen")
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(machinery)]  # fmt: skip
    return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def _module_name(file: Path) -> str:
    """A module name for a file, made from its stem but its own: a student's ``random.py``
    or ``signal.py`` must not take the standard library's place in ``sys.modules``."""
    return "_handgrad_candidate_" + re.sub(r"\W", "_", file.stem)


def _as_package(file: Path) -> str:
    """How to name a file that lives in a package: as a module, with ``--path`` above it."""
    parts, directory = [file.stem], file.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    if len(parts) == 1:
        return "put it in its package and name it as a module, with --path above the package"
    return f"name it as a module, --candidate {'.'.join(parts)} --path {directory}"


def import_target(target: str, path: Sequence[str] = ()) -> ModuleType:
    """Import a module by name, or from a ``.py`` file; ``path`` goes first on sys.path."""
    for directory in reversed(path):
        if not Path(directory).is_dir():
            raise LoadError(f"--path {directory}: not a directory")
        sys.path.insert(0, str(Path(directory).resolve()))
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    try:
        if not is_file:
            return importlib.import_module(target)
        file = Path(target).resolve()
        if not file.is_file():
            raise LoadError(f"--candidate {target}: no such file")
        name = _module_name(file)
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise LoadError(f"--candidate {target}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        # As `python file.py` would: its own directory first, for the imports of its siblings.
        sys.path.insert(0, str(file.parent))
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
        return module
    except LoadError:
        raise
    except ModuleNotFoundError as exc:
        missing = exc.name or target
        raise LoadError(f"--candidate {target}: cannot import {missing!r} "
                        f"(ModuleNotFoundError){_where(exc)}") from None  # fmt: skip
    except BaseException as exc:  # module-level demo code may raise anything, SystemExit too
        if isinstance(exc, KeyboardInterrupt):
            raise
        if is_file and isinstance(exc, ImportError) and "relative import" in str(exc):
            raise LoadError(f"--candidate {target}: it imports relative to its package "
                            f"({exc}), so it cannot be imported as a file: "
                            f"{_as_package(Path(target).resolve())}") from None  # fmt: skip
        raise LoadError(f"--candidate {target}: importing it raised {type(exc).__name__}: "
                        f"{exc}{_where(exc)}") from None  # fmt: skip


def load_candidate(name: str, path: Sequence[str] = (), timeout: float | None = None,
                   api: str = "") -> Candidate:  # fmt: skip
    """The candidate ``name`` (see the module docstring), imported and run in a worker
    process of its own (:mod:`handgrad.worker`): nothing it does to its interpreter can
    reach the gate's. ``timeout``: the seconds a case's calls may take (default 60);
    ``api``: how it is called (``--api``; "" to detect it). Raises LoadError (a
    ValueError) if it cannot be imported or lacks the API."""
    from handgrad import worker
    from handgrad.adapters import families

    if timeout is not None and (not timeout > 0 or timeout == float("inf")):
        raise LoadError(f"--timeout: expected a positive number of seconds, got {timeout}")
    families.check(api)
    return worker.isolated(name, tuple(path), TIMEOUT if timeout is None else timeout, api)


def load_in_process(name: str, path: Sequence[str] = (), api: str = "") -> Candidate:
    """Import ``name`` into this process and wrap it for the engine: what the worker does.
    ``api`` says how it is called ("" to detect it: :mod:`handgrad.adapters.families`)."""
    from handgrad.adapters import families

    if not name or not name.strip():
        raise LoadError("--candidate: expected a module, module:function or file.py, got ''")
    families.check(api)
    target, attribute = _split(name)
    imported = import_target(target, path)
    return families.adapt(imported, name, tuple(path), api, attribute)


def declared_scope(module: ModuleType) -> dict[str, Any]:
    """The module's ``HANDGRAD_SCOPE`` ({} if none); checked by :class:`handgrad.scope.Scope`."""
    declared: Any = getattr(module, SCOPE_ATTRIBUTE, {})
    if not isinstance(declared, dict):
        raise LoadError(f"{module.__name__}.{SCOPE_ATTRIBUTE}: expected a dict, got {declared!r}")
    return dict(declared)
