"""CPU time by thread, from Linux's ``/proc``: where a gate process and its candidate's
worker spend their cores.

The engine's wall time per stage (:mod:`benchmarks.profile_engine`) hides what runs
beside the main thread: XLA computes JAX's programs on threads of its own while the engine
goes on, and the candidate runs in a worker process. In one process those run on the
second core for free; with a worker per core (``-n auto``) every core is busy, and the
rate is bounded by the CPU time per case, not by the main thread's wall time:
cores / (CPU seconds per case).

Elsewhere than Linux there is no ``/proc``: :func:`available` says so and nothing is read.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")

MAIN = "gate, main thread"
OTHERS = "gate, other threads (XLA's pools, OpenBLAS's)"
WORKERS = "candidate's worker process"
GROUPS = (MAIN, OTHERS, WORKERS)
"""The thread groups of :func:`by_group`, in the order a table lists them."""

Snapshot = dict[tuple[int, int], float]
"""CPU seconds (user + system) by (process id, thread id)."""


def available() -> bool:
    """Whether this system has Linux's per-thread ``/proc`` entries."""
    return (PROC / str(os.getpid()) / "task").is_dir()


def _seconds(stat: str) -> float:
    # The fields after the command name, which is in parentheses and may hold spaces:
    # utime and stime are fields 14 and 15 of proc(5), 12 and 13 after the name.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid``."""
    out = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone since the listing
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def snapshot(pid: int | None = None) -> Snapshot:
    """Every thread's CPU seconds so far, of process ``pid`` (this one) and its children."""
    pid = os.getpid() if pid is None else pid
    out: Snapshot = {}
    for process in (pid, *children(pid)):
        for task in (PROC / str(process) / "task").glob("*"):
            try:
                out[(process, int(task.name))] = _seconds((task / "stat").read_text())
            except OSError:  # a thread that ended since the listing
                continue
    return out


def by_group(before: Snapshot, after: Snapshot, pid: int | None = None) -> dict[str, float]:
    """CPU seconds spent between two snapshots, by ``GROUPS``: process ``pid``'s (this
    one's) main thread, its other threads, and its child processes. A thread that ended
    between the snapshots is not counted; one that started counts from zero."""
    pid = os.getpid() if pid is None else pid
    out = dict.fromkeys(GROUPS, 0.0)
    for (process, thread), seconds in after.items():
        group = WORKERS if process != pid else MAIN if thread == pid else OTHERS
        out[group] += seconds - before.get((process, thread), 0.0)
    return out
