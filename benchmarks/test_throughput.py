"""End-to-end throughput of the verification engine: cases verified per second, and the peak
memory of a process that verifies them.

One case = make the inputs, run manual, run the torch and (batched) JAX references,
derive the tolerances and compare every quantity (35 with manual's second-order products)
against both references: what the gate's bulk run does per case
(``tests/test_verify.py::test_random_cases``).

Each test runs three times: with manual in its own worker process, as the gate runs every
candidate (``worker``), and imported into the gate's process (``in-process``), so that the
cost of isolation is the ratio of the two medians of one run; and with manual's first-order
API alone in its worker (``first-order``, :mod:`benchmarks.first_order`: 14 quantities).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import resource
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from handgrad import oracles
from handgrad.candidate import Candidate, load_candidate
from handgrad.cases import DTYPES, CaseSpec, random_specs
from handgrad.engine import as_candidate, verify_many
from handgrad.messages import summary

CASES = 500
SMOKE_CASES = 40
"""Cases under ``--benchmark-disable`` (CI's smoke run): enough for every step to run and
be checked, without timing ``CASES`` cases whose time nobody reads."""
SEED = 0
ROUNDS = 3
WORKERS = 2
WAYS = ("worker", "in-process", "first-order")
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _cases(config: pytest.Config) -> int:
    return SMOKE_CASES if config.getoption("benchmark_disable") else CASES


def _specs(cases: int) -> list[CaseSpec]:
    """``cases`` random cases with N, D, H, C in 1..64 (no large dimension), both dtypes."""
    return random_specs(SEED, cases, big_share=0)


def _peak_rss_kib() -> int:
    """This process's peak resident set size in KiB: Linux's VmHWM, else ``ru_maxrss``.

    Not ``ru_maxrss`` on Linux: there a spawned worker's starts at the RSS its parent had
    when it forked (the kernel carries the forked copy's peak across exec), so each worker
    would report at least the pytest process's size (measured: a worker of a 335 MB parent
    had ru_maxrss 336 MB, VmHWM 29 MB). VmHWM is the peak of the process's own memory.
    """
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):  # "VmHWM:   335736 kB"
                return int(line.split()[1])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def _reset_peak_rss() -> None:
    """Restart VmHWM from the current RSS, so that the in-process peak is the engine's and
    not that of a larger benchmark run before it in the session (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError):
        CLEAR_REFS.write_text("5")  # 5: reset the peak RSS (proc(5), /proc/pid/clear_refs)


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


@functools.cache
def _manual(way: str) -> Candidate:
    """manual, loaded once per process: in its own worker, as a gate's session does, with
    its first-order API alone in its worker, or imported into this process."""
    if way == "worker":
        return load_candidate("manual")
    if way == "first-order":
        return load_candidate("benchmarks.first_order")
    import manual

    return as_candidate(manual)


@pytest.mark.parametrize("way", WAYS)
def test_verify_throughput(benchmark: Any, way: str, pytestconfig: pytest.Config) -> None:
    """All cases in this process, as one pytest-xdist worker of the gate runs them.

    The peak RSS counts from the start of this test: what the session had already
    allocated and still holds, plus what the engine adds.
    """
    oracles.configure()  # the engine's torch threads, whatever ran before in this process
    _reset_peak_rss()
    candidate = _manual(way)
    cases = _cases(pytestconfig)
    specs = _specs(cases)
    # One untimed run over every case compiles the JAX program of every bucket and dtype
    # (~0.3 s each), so that compilation stays out of the timed rounds.
    list(verify_many(candidate, specs))

    benchmark.group = "verify throughput"
    benchmark.extra_info.update({
        "implementation": "manual", "pass": "verify", "cases": cases, "seed": SEED,
        "candidate": way, "dims": "1..64", "dtypes": {d: sum(s.dtype == d for s in specs) for d in DTYPES},
        "torch_threads": torch.get_num_threads(),
    })  # fmt: skip
    results = benchmark.pedantic(lambda: list(verify_many(candidate, specs)), rounds=ROUNDS)
    benchmark.extra_info["peak_rss_mib"] = _mib(_peak_rss_kib())

    assert len(results) == cases
    failed = summary(results)
    assert not failed, failed
    if benchmark.stats is not None:
        benchmark.extra_info["cases_per_second"] = cases / benchmark.stats.stats.median


def _verify_chunk(way: str, specs: list[CaseSpec]) -> tuple[str, int]:
    """Verify ``specs`` in this worker: (the failure summary, "" if none; peak RSS in KiB)."""
    oracles.configure()  # a spawned worker starts with torch's default thread count
    results = list(verify_many(_manual(way), specs))
    return summary(results), _peak_rss_kib()


@pytest.fixture(scope="module")
def pool(pytestconfig: pytest.Config) -> Iterator[ProcessPoolExecutor]:
    """Two worker processes, spawned (JAX must not be forked) and warmed before timing.

    Each worker gets the whole case list once, so that it compiles every bucket's JAX
    program; each task takes seconds, so the two tasks go to the two workers.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
        for way in WAYS:
            for failed, _ in executor.map(
                _verify_chunk, [way] * WORKERS, [_specs(_cases(pytestconfig))] * WORKERS
            ):
                assert not failed, failed
        yield executor


@pytest.mark.parametrize("way", WAYS)
def test_verify_throughput_on_every_core(benchmark: Any, pool: ProcessPoolExecutor, way: str,
                                         pytestconfig: pytest.Config) -> None:  # fmt: skip
    """The same cases dealt to two processes, as ``nox -s verify`` does with ``-n auto``."""
    cases = _cases(pytestconfig)
    specs = _specs(cases)
    chunks = [specs[i::WORKERS] for i in range(WORKERS)]
    benchmark.group = "verify throughput"
    benchmark.extra_info.update({
        "implementation": "manual", "pass": "verify", "cases": cases, "seed": SEED,
        "candidate": way, "dims": "1..64", "workers": WORKERS,
    })  # fmt: skip
    ways = [way] * WORKERS
    outcomes = benchmark.pedantic(lambda: list(pool.map(_verify_chunk, ways, chunks)),
                                  rounds=ROUNDS)  # fmt: skip
    # The largest worker's peak: what each of -n auto's workers needs.
    benchmark.extra_info["peak_rss_mib"] = _mib(max(kib for _, kib in outcomes))
    failed = "\n".join(text for text, _ in outcomes if text)
    assert not failed, failed
    if benchmark.stats is not None:
        benchmark.extra_info["cases_per_second"] = cases / benchmark.stats.stats.median
