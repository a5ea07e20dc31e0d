"""Progress on long runs: cases done, the rate and the time left, on a terminal only.

Drawn by tqdm on the standard error stream, and only when that stream is a terminal
(tqdm's ``disable=None``), so that logs, CI output, pipes and the report files never hold
a progress bar. The bar is cleared when the run ends (``leave=False``): what stays on the
screen is the verdict.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")


def counting(results: Iterable[T], total: int, what: str = "case",
             file: IO[str] | None = None) -> Iterator[T]:  # fmt: skip
    """``results``, passed through one by one, counted on a bar of ``total`` on ``file``
    (the standard error stream) if that is a terminal."""
    from tqdm import tqdm

    with tqdm(total=total, unit=what, file=file or sys.stderr, disable=None, leave=False,
              dynamic_ncols=True, smoothing=0.1) as bar:  # fmt: skip
        for result in results:
            bar.update(1)
            yield result
