"""Smoke test of the second-order timing table, so that it cannot rot: every product of
every implementation is computed, checked against manual in float64, and timed once."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks import second_order


def test_second_order_table_has_every_implementation(tmp_path: Path) -> None:
    args = ["--small", "--rounds", "1", "--settle", "0", "--out", str(tmp_path)]
    assert second_order.main(args) == 0
    text = (tmp_path / "bench_second_order.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| \(\d", line)]
    assert len(rows) == 2 * 2 * 3  # 2 small shapes × 2 dtypes × 3 implementations
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        times = [float(c.removesuffix(" ms")) for c in cells[3:7]]
        ratios = [float(c) for c in cells[7:]]
        assert all(t > 0 for t in times), row
        for got, product in zip(ratios, times[1:], strict=True):
            assert abs(got - product / times[0]) <= 0.02 * got + 0.01, row
