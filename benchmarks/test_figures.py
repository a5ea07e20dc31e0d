"""The figures ``nox -s bench`` writes for the site: the report's time-over-floor plot and
the engine profile's chart, drawn from given numbers (no benchmark runs here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import profile_engine, report

PNG = b"\x89PNG"


def _bench_json(path: Path) -> None:
    rows = []
    for impl, scale in (("manual", 3.0), ("gemm_floor", 1.0), ("jax", 2.0), ("torch", 4.0)):
        for shape in ([5, 4, 10, 3], [64, 32, 16, 10]):
            for dtype in ("float32", "float64"):
                info = {"implementation": impl, "pass": "backward", "shape": shape,
                        "dtype": dtype, "flops": 100 * shape[0]}  # fmt: skip
                stats = {"median": scale * 1e-4 * shape[0], "min": scale * 1e-4, "rounds": 3}
                rows.append({"extra_info": info, "stats": stats})
    path.write_text(json.dumps({"benchmarks": rows, "machine_info": {}, "commit_info": {}}))


def test_the_report_writes_both_figures_where_asked(tmp_path: Path) -> None:
    _bench_json(tmp_path / "bench.json")
    out, figures = tmp_path / "reports", tmp_path / "docs"
    assert report.main([str(tmp_path / "bench.json"), "--out", str(out),
                        "--figures", str(figures)]) == 0  # fmt: skip
    for folder in (out, figures):
        for name in ("bench.png", "bench_floor.png"):
            assert (folder / name).read_bytes()[:4] == PNG, folder / name
    assert not (figures / "bench.md").exists()  # the tables stay in the report


def test_the_floor_plot_draws_each_implementation_over_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each impl × dtype is one line, at its time over the floor's of the same shape."""
    import matplotlib.figure

    _bench_json(tmp_path / "bench.json")
    _, measurements, _ = report.load(tmp_path / "bench.json")
    drawn: list[list[float]] = []

    def keep(figure: matplotlib.figure.Figure, *_: object, **__: object) -> None:
        for ax in figure.axes:
            for line in ax.lines[:-1]:  # the last is the floor's line at 1
                drawn.append([float(y) for y in np.asarray(line.get_ydata())])

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    report.plot_floor(measurements, tmp_path / "floor.png")
    assert sorted(round(y, 9) for ys in drawn for y in ys) == [2.0] * 4 + [3.0] * 4 + [4.0] * 4


def test_the_profile_chart_is_written(tmp_path: Path) -> None:
    spent = {"JAX, batched program": 0.5, "tolerances": 1.5, "Python between stages": 0.2}
    path = tmp_path / "docs" / "profile.png"
    profile_engine.chart(spent, 100, 2.2, path, "100 cases")
    assert path.read_bytes()[:4] == PNG
