"""The Jacobian program's benchmark runs, and refuses to time a program that rejects
correct rows."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import jacobian_program


def test_it_prints_one_row_per_class_count_and_dtype(capsys: pytest.CaptureFixture[str]) -> None:
    assert jacobian_program.main(["--classes", "3,5", "--reps", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[:2] for r in rows[1:]] == [
        ["| 3", "float32"], ["| 3", "float64"], ["| 5", "float32"], ["| 5", "float64"]
    ]  # fmt: skip


def test_rows_that_break_symmetry_stop_it(monkeypatch: pytest.MonkeyPatch) -> None:
    made = jacobian_program.block

    def broken(C: int, dtype: str, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        g, *rest = made(C, dtype, rng)
        g = g.copy()
        g[:, 0, 1] += 0.01
        return (g, *rest)

    monkeypatch.setattr(jacobian_program, "block", broken)
    with pytest.raises(AssertionError, match="correct rows rejected"):
        jacobian_program.main(["--classes", "3", "--reps", "1"])
