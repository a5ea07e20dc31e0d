"""The candidate's own process: the gate never imports the code it verifies.

A candidate is foreign code. At import or in its calls it may patch NumPy (``nnfs.init()``
makes ``np.zeros`` float32), set NumPy's error state to raise, change torch's or JAX's
settings, the warnings filters, the working directory or the standard streams; it may
hang or kill its interpreter. So it runs in a worker process (``multiprocessing``'s
"spawn": a fresh interpreter that inherits nothing but ``sys.path`` and the working
directory) that imports it, tells the gate what it provides (:class:`Description`), and
runs its calls case by case, each under NumPy's default error state with floating-point
warnings ignored. Its patches stay in force for its own calls: they are its arithmetic.
The gate's references, tolerances, comparisons, messages and report stay in the gate's
process, untouched.

A case whose calls do not return within the time limit, or that kill the worker, is a
failure of that case, named with the call that was running (the worker writes it into
shared memory before each call); the worker is replaced and the batch goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from handgrad import candidate as module
from handgrad.candidate import Arrays, Candidate, CandidateError, LoadError
from handgrad.cases import Case
from handgrad.regularisation import L2

TIMEOUT = 60.0
"""Seconds a case's calls may take, by default (``--timeout``)."""
START_TIMEOUT = 300.0
"""Seconds the worker may take to start and import the candidate."""
CALL_BYTES = 512


@dataclass(frozen=True)
class Description:
    """What the gate needs to know of a candidate, read in its worker."""

    name: str
    products: tuple[str, ...]
    declared: dict[str, Any]
    without_l2: tuple[str, ...]
    path: tuple[str, ...]


def serve(conn: Connection, name: str, path: tuple[str, ...], current: Any) -> None:
    """The worker's loop: import the candidate, describe it, then run each batch sent,
    sending each case's (index, values, error) as soon as it is done."""
    module.CURRENT_CALL = current
    try:
        loaded = module.load_in_process(name, path)
    except LoadError as exc:
        conn.send(("load-error", str(exc)))
        return
    conn.send(("ready", Description(loaded.name, loaded.products, dict(loaded.declared),
                                    loaded.without_l2, loaded.path)))  # fmt: skip
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        cases, l2 = message
        for i, case in enumerate(cases):
            conn.send((i, *_run_one(loaded, case, l2)))


def _run_one(loaded: Candidate, case: Case, l2: L2) -> tuple[Arrays, str]:
    """One case's calls, under NumPy's default error state with floating-point warnings
    ignored, whatever the candidate set: ``np.seterr(all="raise")`` at its import would
    otherwise make a softmax's harmless underflow an exception."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return loaded.run_all([case], l2)[0]
    except CandidateError as exc:  # pragma: no cover (run_all catches it)
        return exc.partial, str(exc)
    except BaseException as exc:  # noqa: BLE001 (SystemExit in code written as a script)
        current = module.CURRENT_CALL
        call = bytes(current.value).decode(errors="replace") if current is not None else ""
        return {}, f"{call or loaded.name} raised {type(exc).__name__}: {exc} ({case.spec})"


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


@dataclass
class Worker:
    """The gate's handle on one worker process; replaced after a hang or a crash."""

    name: str
    path: tuple[str, ...]
    timeout: float = TIMEOUT
    description: Description | None = None
    _process: Any = field(default=None, repr=False)
    _conn: Any = field(default=None, repr=False)
    _current: Any = field(default=None, repr=False)

    def start(self) -> Description:
        context = multiprocessing.get_context("spawn")
        self._current = context.Array("c", CALL_BYTES, lock=False)
        parent, child = context.Pipe()
        self._process = context.Process(target=serve, daemon=True, name=f"handgrad {self.name}",
                                        args=(child, self.name, self.path, self._current))  # fmt: skip
        with _one_blas_thread():
            self._process.start()
        child.close()
        self._conn = parent
        weakref.finalize(self, _stop, self._process, parent)
        if not parent.poll(START_TIMEOUT):
            self.stop()
            raise LoadError(f"--candidate {self.name}: importing it took more than "
                            f"{START_TIMEOUT:g} s")  # fmt: skip
        try:
            kind, payload = parent.recv()
        except EOFError:
            self._process.join(5)
            how = _how(self._process.exitcode)
            raise LoadError(f"--candidate {self.name}: importing it crashed ({how})") from None
        if kind == "load-error":
            self.stop()
            raise LoadError(payload)
        description: Description = payload
        self.description = description
        return description

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process, self._conn)

    def call(self) -> str:
        """The candidate's call that was running last."""
        return bytes(self._current.value).decode(errors="replace") or f"{self.name} (import)"

    def run_all(self, cases: Sequence[Case], l2: L2) -> list[tuple[Arrays, str]]:
        """Every case's (values, error), as :meth:`Candidate.run_all`; a case that hangs or
        kills the worker is an error of that case, and the rest go on in a new worker."""
        return self.submit(cases, l2)()

    def submit(self, cases: Sequence[Case], l2: L2) -> Callable[[], list[tuple[Arrays, str]]]:
        """Send the cases now; the function returned collects their results."""
        self._conn.send((list(cases), l2))

        def collect() -> list[tuple[Arrays, str]]:
            out: list[tuple[Arrays, str]] = []
            while True:
                for case in cases[len(out) :]:
                    message, failure = self._receive(case)
                    if message is None:
                        out.append(({}, failure))
                        self.stop()
                        self.start()
                        break
                    out.append((message[1], message[2]))
                if len(out) == len(cases):
                    return out
                self._conn.send((list(cases[len(out) :]), l2))

        return collect

    def _receive(self, case: Case) -> tuple[Any, str]:
        """(the case's message, "") once it comes; (None, why) if it never will."""
        try:
            if not self._conn.poll(self.timeout):
                return None, (f"{self.call()} timed out: no result within {self.timeout:g} s "
                              f"({case.spec}); its worker was replaced")  # fmt: skip
            return self._conn.recv(), ""
        except (EOFError, OSError):
            self._process.join(5)
            return None, (f"{self.call()} crashed the worker process "
                          f"({_how(self._process.exitcode)}) ({case.spec}); its worker was "
                          "replaced")  # fmt: skip


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """The worker's environment: its BLAS on one thread, unless the user set otherwise.
    The gate computes the references while the worker runs the candidate, and an idle
    OpenBLAS thread spins for about 0.1 s after each product: a second one in the worker
    took a core from the gate (measured: isolation cost 14% of the throughput, 10% with
    the two overlapped, less with one thread)."""
    set_here = [k for k in BLAS_THREADS if k not in os.environ]
    os.environ.update(dict.fromkeys(set_here, "1"))
    try:
        yield
    finally:
        for k in set_here:
            del os.environ[k]


def _stop(process: Any, conn: Any) -> None:
    with contextlib.suppress(OSError, ValueError):  # it may be gone already
        conn.send(None)
    process.join(1)
    if process.is_alive():
        process.kill()
        process.join(5)
    conn.close()


@dataclass(frozen=True)
class Isolated(Candidate):
    """A candidate that runs in its worker process; its description was read there."""

    worker: Worker | None = None

    def run_all(self, cases: Sequence[Case], l2: L2) -> list[tuple[Arrays, str]]:
        return self.submit(cases, l2)()

    def submit(self, cases: Sequence[Case], l2: L2) -> Callable[[], list[tuple[Arrays, str]]]:
        assert self.worker is not None
        return self.worker.submit(cases, l2)


def isolated(name: str, path: tuple[str, ...], timeout: float = TIMEOUT) -> Isolated:
    """Start a worker for candidate ``name`` and describe it (LoadError if it cannot be)."""
    worker = Worker(name, path, timeout)
    d = worker.start()

    def run(case: Case, l2: L2) -> Arrays:
        values, error = worker.run_all([case], l2)[0]
        if error:
            raise CandidateError(error, values)
        return values

    return Isolated(d.name, run, d.products, d.declared, d.without_l2, d.path, worker)
