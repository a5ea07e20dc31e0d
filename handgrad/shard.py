"""One run split across machines: ``--shard i/n`` keeps every n-th batch of cases, from the
i-th (the gate's tests deal random cases by batch and edge cases by block of one shape).

Every source of cases is a fixed list drawn from the seed, so the split is a slice of it:
the n shards are disjoint and together hold exactly the cases of the run that is not split,
each among the same batch-mates, so with the same ratios.
Their reports merge back into that run's report (:mod:`handgrad.merge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from handgrad.cases import CaseSpec

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

    def take_batches(self, specs: Sequence[CaseSpec]) -> list[CaseSpec]:
        """This shard's cases of ``specs``, whole batches at a time: every ``count``-th of
        the batches the engine makes of them (:func:`handgrad.batch.groups`). A case is
        then verified among the same batch-mates as in the unsplit run, and gives the same
        ratios to the last bit: its sub-batch is trimmed to its batch-mates' dims, and a
        product's rounding depends on them."""
        from handgrad.batch import groups

        return [specs[i] for chunk in self.take(groups(specs)) for i in chunk]
