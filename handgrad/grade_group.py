"""How ``handgrad grade`` runs a class: ``--jobs`` gate processes, each verifying its share
of the submissions one after another.

A gate process costs about 12 s before its first case: importing torch and JAX, torch's
first forward-mode pass importing ``torch._dynamo``, and JAX tracing its programs. A gate
never imports the code it verifies (each candidate runs in a worker process of its own,
:mod:`handgrad.worker`), so one gate can verify many submissions in turn and pay that
once. For each submission it does what ``handgrad run`` does in a process of its own
(:func:`handgrad.grade.run_one`): it moves into the submission's directory, puts it first
on ``--path``, and sends everything written to its standard streams, the candidate
worker's included, into that submission's ``output.txt``; the exit code goes beside it
(``RC``). The candidate's worker is stopped before the next submission starts.

A gate process that dies leaves its remaining submissions without an exit code: the
caller verifies each of those again in a process of its own.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from queue import Queue

from handgrad.worker import BLAS_THREADS

RC = "exit-code"
"""The file beside a submission's report that holds its ``handgrad run`` exit code."""
SERVE = ("import sys; sys.path.pop(0); from handgrad.grade_group import serve; "
         "sys.exit(serve(sys.argv[1]))")  # fmt: skip
"""A gate process without the working directory on its path (``-c`` puts it first)."""
STALE = ("verify.json", "verify.md", "output.txt", RC)
"""An earlier grade's files in a submission's report directory."""


def one_thread_env() -> dict[str, str]:
    """Each gate on one BLAS thread, as each worker is: the processes share the cores."""
    return os.environ | {k: "1" for k in BLAS_THREADS if k not in os.environ}


def fresh(directory: Path) -> None:
    """A submission's report directory, without an earlier grade's files."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in STALE:
        (directory / stale).unlink(missing_ok=True)


def verify_here(submission: Path, arguments: Sequence[str], directory: Path) -> int:
    """``handgrad run`` on one submission in this process, from its directory, with its
    standard streams (file descriptors 1 and 2, which its worker inherits) in output.txt."""
    from handgrad.cli import main

    fresh(directory)
    here = Path.cwd()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with (directory / "output.txt").open("w") as output:
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
        try:
            os.chdir(submission)
            rc = main(["run", "--path", str(submission), *arguments, "--report-dir",
                       str(directory)])  # fmt: skip
        except SystemExit as exc:  # argparse's own errors
            rc = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # noqa: BLE001 (the gate's own failure: a row, not a stop)
            traceback.print_exc()
            rc = 3
        finally:
            gc.collect()  # the candidate's worker is stopped when its Candidate goes
            sys.stdout.flush()
            sys.stderr.flush()
            os.chdir(here)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
    return rc


def serve(plan: str) -> int:
    """Verify every submission of the plan (a JSON file: the ``handgrad run`` arguments
    and [name, submission, report directory] triples), printing each name when done."""
    spec = json.loads(Path(plan).read_text())
    for name, submission, directory in spec["submissions"]:
        rc = verify_here(Path(submission), spec["arguments"], Path(directory))
        (Path(directory) / RC).write_text(f"{rc}\n")
        print(name, flush=True)
    return 0


def run(shares: Sequence[Sequence[tuple[str, Path, Path]]], arguments: Sequence[str],
        out: Path) -> Iterator[str]:  # fmt: skip
    """Start one gate process per share (of [name, submission, report directory]) and
    yield each submission's name as it is done; every process has ended when this does."""
    done: Queue[str | None] = Queue()

    def follow(k: int, share: Sequence[tuple[str, Path, Path]]) -> None:
        plan = out / f".grade-plan-{k}.json"
        try:  # whatever happens, the share ends (its submissions then go without an RC)
            plan.write_text(json.dumps({"arguments": list(arguments), "submissions": [
                [name, str(submission.resolve()), str(directory)]
                for name, submission, directory in share]}))  # fmt: skip
            log = (out / f".grade-gate-{k}.log").open("w")
            command = [sys.executable, "-c", SERVE, str(plan)]
            with log, subprocess.Popen(command, cwd=out, env=one_thread_env(), stderr=log,
                                       stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                       text=True) as process:  # fmt: skip
                assert process.stdout is not None
                for line in process.stdout:
                    done.put(line.strip())
        finally:
            plan.unlink(missing_ok=True)
            done.put(None)

    threads = [threading.Thread(target=follow, args=(k, share), daemon=True)
               for k, share in enumerate(shares) if share]  # fmt: skip
    for t in threads:
        t.start()
    running = len(threads)
    while running:
        name = done.get()
        if name is None:
            running -= 1
        else:
            yield name
    for t in threads:
        t.join()
