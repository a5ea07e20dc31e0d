"""One run split across machines: ``--shard i/n`` keeps every n-th case, from the i-th.

Every source of cases is a fixed list drawn from the seed, so the split is a slice of it:
the n shards are disjoint and together hold exactly the cases of the run that is not split.
Their reports merge back into that run's report (:mod:`handgrad.merge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """The ``index``-th of ``count`` shards, counted from 1 (as a CI matrix counts)."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"--shard: expected i/n with 1 ≤ i ≤ n, got {self}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'2/8' → the second of eight shards."""
        index, _, count = text.partition("/")
        try:
            return cls(int(index), int(count))
        except ValueError:
            raise ValueError(f"--shard: expected i/n with 1 ≤ i ≤ n, got {text!r}") from None

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, position: int) -> bool:
        """Whether the case at ``position`` (from 0) of a list belongs to this shard."""
        return position % self.count == self.index - 1

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's items: every ``count``-th, from the ``index``-th."""
        return list(items[self.index - 1 :: self.count])
