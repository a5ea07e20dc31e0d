"""Smoke test of the interleaved ratio table, so that ``nox -s bench``'s last step cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks import interleaved


def test_interleaved_writes_one_row_per_small_cell(tmp_path: Path) -> None:
    assert (
        interleaved.main(["--small", "--rounds", "1", "--settle", "0", "--out", str(tmp_path)]) == 0
    )
    text = (tmp_path / "bench_ratios.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \(\d", line)]
    assert len(rows) == 6, text  # 3 small shapes × 2 dtypes
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        times = [float(c.removesuffix(" ms")) for c in cells[2:6]]
        ratios = [float(c) for c in cells[6:]]
        assert all(t > 0 for t in times), row
        # manual/floor, jax/manual, torch/manual, recomputed from the printed medians
        # (3 significant digits, hence the loose match)
        manual, floor, jax, torch = times
        for got, want in zip(ratios, (manual / floor, jax / manual, torch / manual), strict=True):
            assert abs(got - want) <= 0.02 * want + 0.01, row
