"""The candidate's own process: the gate never imports the code it verifies.

A candidate is foreign code. At import or in its calls it may patch NumPy (``nnfs.init()``
makes ``np.zeros`` float32), set NumPy's error state to raise, change torch's or JAX's
settings, the warnings filters, the working directory or the standard streams; it may
hang or kill its interpreter. So it runs in a worker process, ``python -m handgrad.worker``
(a fresh interpreter; it takes the gate's ``sys.path``, working directory and environment,
with its BLAS on one thread), that imports it, tells the gate what it provides
(:class:`Description`), and runs its calls case by case, each under NumPy's default error
state with floating-point warnings ignored. Its patches of NumPy's functions stay in force
for its own calls: they are its arithmetic. The gate's references, tolerances,
comparisons, messages and report stay in the gate's process, untouched. (Not
``multiprocessing``'s "spawn": that re-runs the gate's ``__main__``, so a user's script
that calls ``handgrad.verify`` at its top level would start itself again.)

A case whose calls do not return within the time limit, or that kill the worker, is a
failure of that case, named with the call that was running (the worker writes it into a
shared page before each call); the worker is replaced and the batch goes on. A worker
whose gate has gone exits by itself.

The cases go to the worker pickled (a few KB each); the arrays that come back, up to
megabytes a case, through a shared file (:mod:`handgrad.transfer`).
"""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from handgrad import candidate as module
from handgrad.candidate import TIMEOUT, Arrays, Candidate, CandidateError, LoadError
from handgrad.cases import Case
from handgrad.regularisation import L2
from handgrad.transfer import Results, shared_file

START_TIMEOUT = 300.0
"""Seconds the worker may take to start and import the candidate."""
CALL_BYTES = 512
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Set to 1 in the worker unless the user set them. The gate computes the references while
the worker runs the candidate, and an idle OpenBLAS thread spins for about 0.1 s after each
product: a second one in the worker took a core from the gate (measured with
``benchmarks/isolation.py``: isolation cost 14% of the throughput with the default threads
and no overlap, 3-8% with one thread and the overlap)."""


@dataclass(frozen=True)
class Description:
    """What the gate needs to know of a candidate, read in its worker."""

    name: str
    products: tuple[str, ...]
    declared: dict[str, Any]
    without_l2: tuple[str, ...]
    path: tuple[str, ...]
    api: str
    names: tuple[str, ...]
    sources: dict[str, str]
    explicit: bool
    fed: dict[str, tuple[str, ...]]
    notes: tuple[str, ...]


# --- in the worker -----------------------------------------------------------------------


def serve(conn: Connection, results: Results, name: str, path: tuple[str, ...],
          api: str = "") -> None:  # fmt: skip
    """The worker's loop: import the candidate, describe it, then run each batch sent,
    sending each case's (batch, index, values, places, error) as soon as it is done; the
    arrays among its values are in ``results`` at ``places``."""
    try:
        loaded = module.load_in_process(name, path, api)
    except LoadError as exc:
        conn.send(("load-error", str(exc)))
        return
    conn.send(("ready", Description(loaded.name, loaded.products, dict(loaded.declared),
                                    loaded.without_l2, loaded.path, loaded.api, loaded.names,
                                    dict(loaded.sources), loaded.explicit, dict(loaded.fed),
                                    loaded.notes)))  # fmt: skip
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        batch, cases, l2 = message
        results.end = 0
        for i, case in enumerate(cases):
            values, error = _run_one(loaded, case, l2)
            try:
                shared = results.put(values)
            except Exception:  # noqa: BLE001 (no memory for the file: the pipe instead)
                shared = values, (0, 0, [])
            conn.send((batch, i, *shared, error))


def _run_one(loaded: Candidate, case: Case, l2: L2) -> tuple[Arrays, str]:
    """One case's calls, under NumPy's default error state with floating-point warnings
    ignored, whatever the candidate set: ``np.seterr(all="raise")`` at its import would
    otherwise make a softmax's harmless underflow an exception."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return loaded.run_all([case], l2)[0]
    except BaseException as exc:  # noqa: BLE001 (SystemExit in code written as a script)
        call = module.LAST_CALL or loaded.name
        return {}, f"{call} raised {type(exc).__name__}: {exc} ({case.spec})"


def _watch_parent(parent: int) -> None:
    """Exit when the gate has gone (a hung call would otherwise run on for ever)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def main(argv: Sequence[str]) -> None:
    """``python -m handgrad.worker CONN_FD CALL_FD RESULTS_FD``: the gate's end of the pipe,
    the shared page for the call in progress and the results' file are inherited."""
    conn = Connection(int(argv[0]))
    page = mmap.mmap(int(argv[1]), CALL_BYTES)
    results = Results(int(argv[2]))

    def record(call: str) -> None:
        data = call.encode(errors="replace")[: CALL_BYTES - 1]
        page[:] = data + bytes(CALL_BYTES - len(data))

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    name, path, api, sys_path = conn.recv()
    sys.path[:] = sys_path
    module.RECORD_CALL = record
    serve(conn, results, name, tuple(path), api)


# --- in the gate ---------------------------------------------------------------------------


def _how(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _stop(process: subprocess.Popen[bytes], conn: Connection, page: Any, results: Any) -> None:
    try:
        conn.send(None)
        process.wait(1)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    if process.poll() is None:
        process.kill()
        process.wait(5)
    conn.close()
    page.close()
    results.close()


@dataclass
class Worker:
    """The gate's handle on one worker process; replaced after a hang or a crash."""

    name: str
    path: tuple[str, ...]
    timeout: float = TIMEOUT
    api: str = ""
    _process: Any = field(default=None, repr=False)
    _conn: Any = field(default=None, repr=False)
    _page: Any = field(default=None, repr=False)
    _results: Any = field(default=None, repr=False)
    _finalizer: Any = field(default=None, repr=False)
    _batch: int = 0
    _open: bool = False

    def start(self) -> Description:
        parent, child = Pipe()
        with tempfile.TemporaryFile() as file:
            file.truncate(CALL_BYTES)
            self._page = mmap.mmap(file.fileno(), CALL_BYTES)
            self._results = Results(shared_file())
            fds = (child.fileno(), file.fileno(), self._results.fd)
            env = os.environ | {k: "1" for k in BLAS_THREADS if k not in os.environ}
            self._process = subprocess.Popen(
                [sys.executable, "-m", "handgrad.worker", *map(str, fds)],
                pass_fds=fds, env=env, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        child.close()
        self._conn, self._open = parent, False
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _stop, self._process, parent, self._page,
                                           self._results)  # fmt: skip
        parent.send((self.name, self.path, self.api, list(sys.path)))
        try:
            if not parent.poll(START_TIMEOUT):
                self.stop()
                raise LoadError(f"--candidate {self.name}: importing it took more than "
                                f"{START_TIMEOUT:g} s")  # fmt: skip
            kind, payload = parent.recv()
        except (EOFError, OSError):
            self._process.wait(5)
            how = _how(self._process.returncode)
            self.stop()
            raise LoadError(f"--candidate {self.name}: importing it crashed ({how})") from None
        if kind == "load-error":
            self.stop()
            raise LoadError(payload)
        description: Description = payload
        return description

    def stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()

    def call(self) -> str:
        """The candidate's call that was running last."""
        return bytes(self._page[:]).split(b"\0", 1)[0].decode(errors="replace") or self.name

    def submit(self, cases: Sequence[Case], l2: L2) -> Callable[[], list[tuple[Arrays, str]]]:
        """Send the cases now; the function returned collects their results. A batch that
        was never collected (its caller raised in between) is dropped with its worker, so
        that its results cannot be taken for the next batch's."""
        if self._open:
            self._restart()
        batch = self._send(list(cases), l2)

        def collect() -> list[tuple[Arrays, str]]:
            nonlocal batch
            out: list[tuple[Arrays, str]] = []
            while True:
                for case in cases[len(out) :]:
                    message, failure = self._receive(case, batch)
                    if message is None:
                        out.append(({}, failure))
                        break
                    out.append((self._results.take(message[2], message[3]), message[4]))
                else:
                    self._open = False
                    return out
                # It hung or died: a new worker, also when that was the batch's last case.
                try:
                    self._restart()
                except LoadError as exc:
                    why = f"not run: the worker could not be restarted ({exc})"
                    return out + [({}, f"{why} ({case.spec})") for case in cases[len(out) :]]
                if len(out) == len(cases):
                    return out
                batch = self._send(list(cases[len(out) :]), l2)

        return collect

    def _send(self, cases: list[Case], l2: L2) -> int:
        self._batch += 1
        try:
            self._conn.send((self._batch, cases, l2))
        except OSError:  # it died between batches: a new one, once
            self._restart()
            self._batch += 1
            self._conn.send((self._batch, cases, l2))
        self._open = True
        return self._batch

    def _restart(self) -> None:
        self.stop()
        self.start()

    def _receive(self, case: Case, batch: int) -> tuple[Any, str]:
        """(the case's message, "") once it comes; (None, why) if it never will. Messages
        of an earlier batch are dropped."""
        try:
            while True:
                if not self._conn.poll(self.timeout):
                    return None, (f"{self.call()} timed out: no result within "
                                  f"{self.timeout:g} s ({case.spec}); its worker was replaced")  # fmt: skip
                message = self._conn.recv()
                if message[0] == batch:
                    return message, ""
        except (EOFError, OSError):
            self._process.wait(5)
            return None, (f"{self.call()} crashed the worker process "
                          f"({_how(self._process.returncode)}) ({case.spec}); its worker was "
                          "replaced")  # fmt: skip


@dataclass(frozen=True)
class Isolated(Candidate):
    """A candidate that runs in its worker process; its description was read there."""

    worker: Worker | None = None

    def run_all(self, cases: Sequence[Case], l2: L2) -> list[tuple[Arrays, str]]:
        return self.submit(cases, l2)()

    def submit(self, cases: Sequence[Case], l2: L2) -> Callable[[], list[tuple[Arrays, str]]]:
        assert self.worker is not None
        return self.worker.submit(cases, l2)


def isolated(name: str, path: tuple[str, ...], timeout: float = TIMEOUT,
             api: str = "") -> Isolated:  # fmt: skip
    """Start a worker for candidate ``name`` and describe it (LoadError if it cannot be)."""
    worker = Worker(name, path, timeout, api)
    d = worker.start()

    def run(case: Case, l2: L2) -> Arrays:
        values, error = worker.submit([case], l2)()[0]
        if error:
            raise CandidateError(error, values)
        return values

    return Isolated(d.name, run, d.products, d.declared, d.without_l2, d.path, d.api, d.names,
                    d.sources, d.explicit, d.fed, d.notes, worker)  # fmt: skip


if __name__ == "__main__":
    # Run as handgrad.worker, not as __main__: the gate unpickles what it sends by the
    # module's own name.
    from handgrad.worker import main as _main

    _main(sys.argv[1:])
