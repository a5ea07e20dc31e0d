"""A batch's arrays from the candidate's worker to the gate, through a shared file.

The arrays a candidate returns are up to megabytes a case (the softmax Jacobian has N·C²
elements; manual's average 560 KB with its second-order products). Pickled through the
worker's pipe, 64 of them took 2.9–3.4 ms a case against 1.0–1.1 ms for manual in the
gate's own process; written into a file that both processes map, with only their places
pickled, 1.3–2.0 ms (``Isolated.run_all`` against ``run_all`` in the gate, on
``random_specs(0, 64, big_share=0)``). ``benchmarks/isolation.py`` measures the whole gate.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from typing import Any

import numpy as np

# Taken at the worker's start, before any candidate is imported: a candidate may patch
# NumPy's functions (``nnfs.init()`` does).
_ndarray = np.ndarray
_NUMERIC = frozenset("biufc")


def shared_file() -> int:
    """A file descriptor of a new, empty file that lives in memory where the OS allows."""
    if hasattr(os, "memfd_create"):  # Linux
        return os.memfd_create("handgrad-results")
    with tempfile.TemporaryFile() as file:
        return os.dup(file.fileno())


LIMIT = 1 << 27
"""The most bytes of one batch's arrays the file holds (128 MiB): the worker keeps the
file's pages while it lives, and what lies beyond goes through the pipe, pickled."""


def _aligned(offset: int) -> int:
    return -(-offset // 64) * 64


Place = tuple[str, int, tuple[int, ...], str]
"""Where one array lies in the shared file: (quantity, offset, shape, dtype)."""


class Results:
    """One batch's arrays, written by the worker from the file's start, read by the gate.

    One batch is in flight at a time (:meth:`handgrad.worker.Worker.submit`), so each
    batch starts again at offset 0. The worker grows the file as it needs to; the gate maps it again when a place
    lies beyond its map, and copies each case's block out in one piece.
    """

    def __init__(self, fd: int) -> None:
        self.fd, self.end, self.size = fd, 0, 0
        self.map: mmap.mmap | None = None

    def _mapped(self, size: int) -> mmap.mmap:
        if self.map is None or len(self.map) < size:
            if self.map is not None:
                self.map.close()
            self.map = mmap.mmap(self.fd, max(size, os.fstat(self.fd).st_size))
        return self.map

    def put(self, values: Any) -> tuple[Any, tuple[int, int, list[Place]]]:
        """(what stays to be pickled, (the block's start and end, the places of the arrays
        written)): a plain numeric array goes into the file, up to ``LIMIT`` bytes a batch;
        anything else (a float, a list, a tensor) is pickled."""
        start = self.end = _aligned(self.end)
        rest, places = {}, []
        for q, v in values.items() if isinstance(values, dict) else ():
            offset = _aligned(self.end)
            end = offset + (v.nbytes if type(v) is _ndarray else 0)
            if type(v) is not _ndarray or v.dtype.kind not in _NUMERIC or end > LIMIT:
                rest[q] = v
                continue
            if self.size < max(end, 1):  # an empty file cannot be mapped
                self.size = min(max(2 * end, 1 << 24), LIMIT)
                os.ftruncate(self.fd, self.size)
            _ndarray(v.shape, v.dtype, buffer=self._mapped(end), offset=offset)[...] = v
            self.end = end
            places.append((q, offset - start, v.shape, v.dtype.str))
        return (rest if places else values), (start, self.end, places)

    def take(self, rest: Any, block: tuple[int, int, list[Place]]) -> Any:
        """The values as the worker had them, copied out of the file."""
        start, end, places = block
        if not places:
            return rest
        data = np.frombuffer(self._mapped(end), np.uint8, end - start, start).copy()
        arrays = {q: np.ndarray(shape, dtype, buffer=data, offset=offset)
                  for q, offset, shape, dtype in places}  # fmt: skip
        return rest | arrays

    def close(self) -> None:
        if self.map is not None:
            self.map.close()
        os.close(self.fd)
