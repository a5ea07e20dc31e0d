"""The gate never cries wolf: 10,000 random cases per dtype of ``manual``, none of which may
fail. This is a property of the gate's tolerances, not of a candidate, so it runs here, in
``nox -s tests`` (which CI runs) and in the soak workflow, and not in ``nox -s verify``,
which verifies the candidate.

The run pins ``manual``, in its own worker as the gate runs every candidate. The code paths
added since it was first written run in ``tests/test_catalog.py``: the L2 penalty in both
forms (``l2_full``, ``l2_half``) and every correct variant, 2,000 cases per dtype each.
``--seed`` (the plugin's option) moves every draw, as the soak workflow does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import pytest

from handgrad import cases, messages, oracles
from handgrad.candidate import Candidate, load_candidate
from handgrad.engine import CaseResult, verify_many
from handgrad.pytest_plugin import Options

CASES = 10_000
CHUNKS = 10


@functools.cache
def _manual() -> Candidate:
    oracles.configure()  # the references' torch threads, as the gate's fixture sets them
    return load_candidate("manual")


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS), ids=lambda c: f"chunk{c}")
@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_no_false_alarms(dtype: str, chunk: int, handgrad_options: Options,
                        handgrad_record: Callable[[Iterable[CaseResult]], None]) -> None:  # fmt: skip
    """``CASES`` random cases per dtype (one in sixteen with a dimension up to 512), every
    target, reduction and stress kind; dealt into chunks for ``-n auto``."""
    seed = handgrad_options.seed + 1 + cases.DTYPES.index(dtype)  # not verify's draws
    specs = cases.random_specs(seed, CASES, dtype=dtype)[chunk::CHUNKS]
    results = list(verify_many(_manual(), specs))
    handgrad_record(results)  # the worst ratios, in the run's table (and its report)
    assert len(results) == len(specs)
    failure = messages.summary(results)
    assert not failure, failure
