"""Turn pytest-benchmark's JSON into ``bench.md`` (tables), ``bench.png`` (time vs FLOPs) and
``bench_floor.png`` (each implementation's time over the GEMM floor, by shape).

    python benchmarks/report.py reports/bench.json --out reports

Reads what ``benchmarks/test_passes.py`` and ``benchmarks/test_throughput.py`` put into each
benchmark's ``extra_info`` and the ``machine_info`` that ``benchmarks/conftest.py`` extends.
Per pass, one table: a row per shape × dtype, a column per implementation, and in each cell

    median time · ×manual (impl median / manual median) · GFLOP/s · % of GEMM floor
    (floor median / impl median: 100 % would be nothing but the matrix products).

``--stat min`` uses each benchmark's fastest round instead of the median: on a shared or
throttled machine it is the steadier estimate of what the code can do.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMPLEMENTATIONS = ("manual", "gemm_floor", "jax", "torch", "torch_compile")
PASSES = ("forward", "backward", "forward+backward")
COLORS = {"manual": "C0", "gemm_floor": "black", "jax": "C2", "torch": "C3", "torch_compile": "C1"}
MARKERS = {"float32": "o", "float64": "s"}


@dataclass(frozen=True)
class Measurement:
    """One benchmark: an implementation's pass on one shape (N, D, H, C) and dtype."""

    implementation: str
    pass_: str
    shape: tuple[int, int, int, int]
    dtype: str
    flops: int
    seconds: float  # the chosen statistic of the rounds: median or min
    rounds: int

    @property
    def gflops(self) -> float:
        """GFLOP/s = flops / seconds / 1e9, with flops counting the matrix products only."""
        return self.flops / self.seconds / 1e9


@dataclass(frozen=True)
class Throughput:
    """The verification engine's run: ``cases`` cases per round, and the peak RSS of a
    verifying process (the largest worker's; None in JSON written before it was recorded)."""

    cases: int
    seconds: float
    rounds: int
    workers: int
    peak_rss_mib: float | None = None

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.seconds


def load(
    path: Path, stat: str = "median"
) -> tuple[dict[str, Any], list[Measurement], list[Throughput]]:
    """The JSON's header (machine_info, commit_info, datetime), the passes, the throughput.

    ``stat`` names the statistic of pytest-benchmark's ``stats`` to report: median or min.
    """
    data = json.loads(path.read_text())
    measurements: list[Measurement] = []
    throughput: list[Throughput] = []
    for bench in data["benchmarks"]:
        info, stats = bench["extra_info"], bench["stats"]
        if info.get("pass") == "verify":
            throughput.append(Throughput(info["cases"], stats[stat], stats["rounds"],
                                         info.get("workers", 1),
                                         info.get("peak_rss_mib")))  # fmt: skip
        elif info.get("pass") in PASSES:
            measurements.append(Measurement(
                info["implementation"], info["pass"], tuple(info["shape"]), info["dtype"],
                info["flops"], stats[stat], stats["rounds"],
            ))  # fmt: skip
    header = {k: data.get(k) for k in ("machine_info", "commit_info", "datetime", "version")}
    return header, measurements, throughput


def format_time(seconds: float) -> str:
    """Three significant digits in µs, ms or s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def cell(m: Measurement, manual: Measurement | None, floor: Measurement | None) -> str:
    """'1.23 ms · ×1.05 · 45.6 GF/s · 87 %' (ratio and floor share left out when missing)."""
    parts = [format_time(m.seconds)]
    if manual is not None:
        parts.append(f"×{m.seconds / manual.seconds:.2f}")
    parts.append(f"{m.gflops:.3g} GF/s")
    if floor is not None:
        parts.append(f"{100 * floor.seconds / m.seconds:.0f} %")
    return " · ".join(parts)


def pass_table(pass_: str, measurements: Sequence[Measurement]) -> list[str]:
    """Markdown lines of one pass's table; rows in order of FLOPs, float32 before float64."""
    rows = [m for m in measurements if m.pass_ == pass_]
    impls = [i for i in IMPLEMENTATIONS if any(m.implementation == i for m in rows)]
    impls += sorted({m.implementation for m in rows} - set(impls))
    by_key = {(m.shape, m.dtype, m.implementation): m for m in rows}
    keys = sorted({(m.flops, m.shape, m.dtype) for m in rows})
    lines = [
        f"### {pass_}",
        "",
        "| (N, D, H, C) | dtype | GFLOP | " + " | ".join(impls) + " |",
        "|---|---|---:|" + "---:|" * len(impls),
    ]
    for flops, shape, dtype in keys:
        manual = by_key.get((shape, dtype, "manual"))
        floor = by_key.get((shape, dtype, "gemm_floor"))
        cells = []
        for impl in impls:
            m = by_key.get((shape, dtype, impl))
            cells.append("—" if m is None else cell(m, manual, floor))
        lines.append(f"| {shape} | {dtype} | {flops / 1e9:.3g} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _torch_blas(parallel_info: str) -> str:
    """The MKL and oneDNN lines of ``torch.__config__.parallel_info()``."""
    keep = ("Math Kernel Library", "MKL-DNN", "oneDNN", "OpenBLAS")
    return "; ".join(line.strip() for line in parallel_info.splitlines()
                     if any(k in line for k in keep))  # fmt: skip


def header_lines(header: dict[str, Any], stat: str = "median") -> list[str]:
    """The machine, CPU, thread counts, BLAS builds and versions the numbers belong to."""
    mi = header.get("machine_info") or {}
    hg = mi.get("handgrad", {})
    cpu = mi.get("cpu", {})
    blas = hg.get("openblas", {})
    commit = header.get("commit_info") or {}
    dirty = " (dirty)" if commit.get("dirty") else ""
    machine = (
        f"{mi.get('node')}, {mi.get('system')} {mi.get('release')}, "
        f"{mi.get('python_implementation')} {mi.get('python_version')}"
    )
    processor = (
        f"{cpu.get('brand_raw', mi.get('processor'))}, "
        f"{hg.get('cores', cpu.get('count'))} cores available"
    )
    threads = (
        f"torch {hg.get('torch_threads_passes')} for the passes (interop "
        f"{hg.get('torch_interop_threads')}); NumPy's OpenBLAS {blas.get('threads', '?')}; "
        f"JAX on {', '.join(hg.get('jax_devices', []))} (XLA's own pool)"
    )
    libs = (
        f"NumPy {hg.get('numpy')} → {hg.get('numpy_blas')} (kernel "
        f"{blas.get('core', '?')}); torch {hg.get('torch')} → "
        f"{_torch_blas(hg.get('torch_parallel_info', ''))}; JAX {hg.get('jax')} → XLA"
    )
    run = (
        f"{header.get('datetime')}, commit {str(commit.get('id'))[:12]}{dirty}, "
        f"pytest-benchmark {header.get('version')}"
    )
    legend = (
        f"Each cell: {stat} time · ×manual (impl / manual; > 1 is slower "
        "than manual) · GFLOP/s of the matrix products (forward 2(NDH + NHC), backward "
        "2(2NHC + 2NDH)) · % of the GEMM floor (floor time / impl time; the floor is "
        "NumPy's BLAS, so torch on MKL can pass 100 %)."
    )
    return ["# handgrad benchmarks", "", f"- machine: {machine}", f"- CPU: {processor}",
            f"- threads: {threads}", f"- BLAS: {libs}", f"- run: {run}", "", legend, ""]  # fmt: skip


def throughput_line(t: Throughput, stat: str = "median") -> str:
    processes = "1 process" if t.workers == 1 else f"{t.workers} processes"
    who = "the process" if t.workers == 1 else "the largest worker"
    rss = "" if t.peak_rss_mib is None else f"; peak RSS of {who} {t.peak_rss_mib:.0f} MiB"
    return (
        f"**Verification throughput, {processes}:** {t.cases} random cases (N, D, H, C in "
        f"1..64, both dtypes) verified against torch and JAX in {format_time(t.seconds)} "
        f"({stat} of {t.rounds} rounds): **{t.cases_per_second:.0f} cases/s**{rss}."
    )


def markdown(header: dict[str, Any], measurements: Sequence[Measurement],
             throughput: Sequence[Throughput], stat: str = "median") -> str:  # fmt: skip
    """The whole report: header, one table per pass present, the throughput line."""
    lines = header_lines(header, stat)
    for pass_ in PASSES:
        if any(m.pass_ == pass_ for m in measurements):
            lines += pass_table(pass_, measurements)
    for t in throughput:
        lines += [throughput_line(t, stat), ""]
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib as mpl

    mpl.use("Agg")  # no display: the figures only go to files
    import matplotlib.pyplot as plt

    return plt


def _line(ax: Any, pts: list[tuple[float, float]], impl: str, dtype: str) -> None:
    """One impl × dtype: its colour, and its dtype's marker and dash."""
    if pts:
        ax.plot(*zip(*sorted(pts), strict=True), marker=MARKERS[dtype], color=COLORS.get(impl),
                linestyle="-" if dtype == "float32" else "--", alpha=0.85)  # fmt: skip


def _save(fig: Any, impls: Sequence[str], path: Path) -> None:
    """The legend (implementations by colour, dtypes by marker) under the panels, then save."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=COLORS.get(i), label=i) for i in impls]
    handles += [Line2D([], [], color="gray", marker=mk, linestyle="-" if d == "float32" else "--",
                       label=d) for d, mk in MARKERS.items()]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)


def _panels(measurements: Sequence[Measurement], height: float) -> tuple[Any, Any]:
    """A figure with a panel per pass measured, and the (panel, pass) pairs."""
    passes = [p for p in PASSES if any(m.pass_ == p for m in measurements)]
    fig, axes = _pyplot().subplots(1, len(passes), figsize=(5 * len(passes), height),
                                   squeeze=False)  # fmt: skip
    return fig, zip(axes[0], passes, strict=True)


def _of(measurements: Sequence[Measurement], pass_: str, impl: str,
        dtype: str) -> list[Measurement]:  # fmt: skip
    return [m for m in measurements if (m.pass_, m.implementation, m.dtype) == (pass_, impl, dtype)]


def plot(measurements: Sequence[Measurement], path: Path, stat: str = "median") -> None:
    """Log-log time against FLOPs, one panel per pass, one line per impl × dtype."""
    impls = [i for i in IMPLEMENTATIONS if any(m.implementation == i for m in measurements)]
    fig, panels = _panels(measurements, 4.5)
    for ax, pass_ in panels:
        for impl in impls:
            for dtype in MARKERS:
                _line(ax, [(m.flops, m.seconds) for m in _of(measurements, pass_, impl, dtype)],
                      impl, dtype)  # fmt: skip
        ax.set(xscale="log", yscale="log", title=pass_, xlabel="FLOPs of the matrix products",
               ylabel=f"{stat} time (s)")  # fmt: skip
        ax.grid(True, which="both", alpha=0.3)
    _save(fig, impls, path)


def plot_floor(measurements: Sequence[Measurement], path: Path, stat: str = "median") -> None:
    """Each implementation's time over the GEMM floor's (the same shape, dtype and pass), by
    shape: one panel per pass, one line per impl × dtype; 1 would be nothing but the
    matrix products."""
    floor = {(m.pass_, m.shape, m.dtype): m.seconds for m in measurements
             if m.implementation == "gemm_floor"}  # fmt: skip
    shapes = sorted({m.shape for m in measurements}, key=lambda s: s[0] * s[1] * s[2])
    impls = [i for i in IMPLEMENTATIONS if i != "gemm_floor"
             and any(m.implementation == i for m in measurements)]  # fmt: skip
    fig, panels = _panels(measurements, 4.8)
    for ax, pass_ in panels:
        for impl in impls:
            for dtype in MARKERS:
                _line(ax, [(shapes.index(m.shape), m.seconds / floor[(pass_, m.shape, dtype)])
                           for m in _of(measurements, pass_, impl, dtype)
                           if (pass_, m.shape, dtype) in floor], impl, dtype)  # fmt: skip
        ax.axhline(1.0, color=COLORS["gemm_floor"], linewidth=0.8)
        ax.set_xticks(range(len(shapes)), ["×".join(map(str, s)) for s in shapes], rotation=30,
                      ha="right", fontsize=8)  # fmt: skip
        ax.set(yscale="log", title=pass_, xlabel="shape N×D×H×C",
               ylabel=f"{stat} time / GEMM floor's")  # fmt: skip
        ax.grid(True, which="both", alpha=0.3)
    _save(fig, impls, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``bench.md``, ``bench.png`` and ``bench_floor.png`` into ``--out`` (and the two
    figures into ``--figures`` too, where given); 1 if the JSON has no timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="output folder")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="statistic of the rounds to report (default: median)")  # fmt: skip
    parser.add_argument("--figures", type=Path, default=None,
                        help="also write the figures here (nox -s bench: docs/, for the site)")  # fmt: skip
    args = parser.parse_args(argv)
    header, measurements, throughput = load(args.json, args.stat)
    if not measurements and not throughput:
        print(f"{args.json}: no handgrad benchmarks with timings (run without "
              "--benchmark-disable)", file=sys.stderr)  # fmt: skip
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    md = args.out / "bench.md"
    md.write_text(markdown(header, measurements, throughput, args.stat))
    written = [md]
    for folder in (args.out, args.figures) if measurements else ():
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            plot(measurements, folder / "bench.png", args.stat)
            plot_floor(measurements, folder / "bench_floor.png", args.stat)
            written += [folder / "bench.png", folder / "bench_floor.png"]
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
