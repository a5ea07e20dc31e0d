"""Smoke test of the comparison with the usual tools, so that ``nox -s compare`` cannot rot,
at a tiny shape with two pinned seeds."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import compare_tools


def test_compare_tools_writes_both_reports(tmp_path: Path) -> None:
    args = ["--seeds", "2", "--shape", "4,3,5,2", "--out", str(tmp_path)]
    assert compare_tools.main(args) == 0
    data = json.loads((tmp_path / "compare.json").read_text())
    rows = {(r["tool"].split()[0], r["dtype"]): r for r in data["rows"]}
    assert len(rows) == 6  # 3 tools × 2 dtypes
    assert all(r["cases"] == 2 and r["first_call_s"] > 0 for r in rows.values())
    # Correct code everywhere: handgrad must pass it, and so must gradcheck in float64,
    # the precision it is designed for; in float32 its finite differences are noise.
    assert rows["handgrad", "float32"]["failed"] == rows["handgrad", "float64"]["failed"] == 0
    assert rows["torch.autograd.gradcheck", "float64"]["failed"] == 0
    assert rows["torch.autograd.gradcheck", "float32"]["failed"] == 2
    text = (tmp_path / "compare.md").read_text()
    assert "python -m benchmarks.compare_tools --seeds 2 --shape 4,3,5,2" in text
