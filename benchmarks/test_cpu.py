"""The profile's CPU accounting (:mod:`benchmarks.cpu`): each thread group's seconds against
the CPU clock each thread reads of itself."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from benchmarks import cpu

pytestmark = pytest.mark.skipif(not cpu.available(), reason="no per-thread /proc (not Linux)")

SPIN = 0.4
"""CPU seconds each busy thread spends: many clock ticks (10 ms each), so that one tick
either way is small against it."""
SLACK = 0.05
"""Ticks of rounding, the snapshots' own work and the interpreter's housekeeping."""

CHILD = f"""
import sys, time
print("ready", flush=True)
sys.stdin.readline()
start = time.process_time()
while time.process_time() - start < {SPIN}:
    pass
print(time.process_time() - start, flush=True)
sys.stdin.readline()
"""


def _spin(seconds: float, into: list[float], then: threading.Event | None = None) -> None:
    """Spin for ``seconds`` of this thread's CPU time, note it, then wait for ``then`` (a
    thread that has ended is gone from /proc, and from the second snapshot)."""
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass
    into.append(time.thread_time() - start)
    if then is not None:
        then.wait()


def test_each_group_gets_the_cpu_time_its_threads_spent() -> None:
    """A second thread, the main thread and a child process each spin on their own (the
    thread and the child while the main thread waits), for amounts that differ, so that
    time booked to the wrong group shows."""
    done = threading.Event()
    with subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as child:  # fmt: skip
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            assert child.stdout.readline().strip() == "ready"
            before = cpu.snapshot()
            in_thread: list[float] = []
            worker = threading.Thread(target=_spin, args=(2 * SPIN, in_thread, done))
            worker.start()
            while not in_thread:  # the main thread sleeps while the other one spins
                time.sleep(0.01)
            in_main: list[float] = []
            _spin(SPIN / 2, in_main)
            child.stdin.write("go\n")
            child.stdin.flush()
            in_child = float(child.stdout.readline())
            after = cpu.snapshot()
        finally:
            done.set()
            child.kill()
    spent = cpu.by_group(before, after)
    assert spent[cpu.OTHERS] == pytest.approx(in_thread[0], abs=SLACK), spent
    assert spent[cpu.MAIN] == pytest.approx(in_main[0], abs=SLACK), spent
    assert spent[cpu.WORKERS] == pytest.approx(in_child, abs=SLACK), spent


def test_the_profile_table_bounds_the_rate_by_cpu_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """2 cores, 500 cases that took 2 CPU seconds in all: at most 2 × 500 / 2 = 500 cases/s."""
    from benchmarks import profile_engine

    monkeypatch.setattr("benchmarks.profile_engine.os.cpu_count", lambda: 2)
    threads = {cpu.MAIN: 1.0, cpu.OTHERS: 0.5, cpu.WORKERS: 0.5}
    table = profile_engine.cpu_table(threads, 500, 1.25)
    assert f"| {cpu.MAIN} | 2.00 | 0.80 |" in table
    assert "| all | 4.00 | 1.60 |" in table
    assert "at most 500 cases/s on 2 cores" in table
