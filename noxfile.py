#!/usr/bin/env -S python3 -m nox -f
# /// script
# dependencies = ["nox>=2026.8.10"]
# ///
"""Sessions: ``nox`` runs the gate; ``nox --parallel auto -s lint tests verify docs`` is
what CI runs; ``nox -l`` lists all.

Every session may run beside another under ``--parallel`` (each in its own nox process and
virtual environment, its output printed whole when it ends): lint, the docs and the
installs leave a core idle that the tests and the gate then use.

Every session installs the project (with its "oracles" extra, torch and JAX) and what else
it needs with pip, pinned by constraints.txt (this machine has a CPU wheel of exactly that
torch on disk; any other version pulls a CUDA build).
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))
REPORTS = ROOT / "reports"
COMPILE_ALL = (
    "import compileall, sysconfig\n"
    "for path in sorted({sysconfig.get_paths()[key] for key in ('purelib', 'platlib')}):\n"
    "    compileall.compile_dir(path, quiet=2, workers=0)\n"
)

nox.needs_version = ">=2026.8.10"  # --parallel and allow_parallel
nox.options.default_venv_backend = "venv"  # pip, not uv: uv does not see the local torch wheel
nox.options.reuse_existing_virtualenvs = True


def install(session: nox.Session, *groups: str, byte_compile: bool = True) -> None:
    """The project, editable (its pytest plugin and command line come with it), and the
    dependency ``groups``; ``byte_compile``: every installed module, for sessions that
    import torch and JAX."""
    deps = {d for g in groups for d in nox.project.dependency_groups(PYPROJECT, g)}
    # pip byte-compiles what it installs on one core (23 of torch and JAX's 37 s here);
    # compileall does the same on every core. Files that do not compile are skipped, as pip
    # skips them: torch ships a few in syntax newer than this Python.
    session.install("--no-compile", "-e", f"{ROOT}[oracles]", *sorted(deps), *CONSTRAINTS)
    if byte_compile:
        session.run_install("python", "-c", COMPILE_ALL)


@nox.session(default=True, allow_parallel=True)
def verify(session: nox.Session) -> None:
    """The gate: every gradient of --candidate (default: manual) against torch and JAX.

    2,000 random cases, the edge cases and Hypothesis shapes, on every core (the gate's own
    no-false-alarm run is in ``tests``). Pass pytest options after --:
    ``nox -s verify -- --candidate my.module --seed 3 --cases 5000``.
    Writes reports/verify.md, verify.json and verify.xml (JUnit).
    """
    install(session, "test")
    REPORTS.mkdir(exist_ok=True)
    # Every core by default (pytest-xdist; collection is deterministic). -n 0: one process.
    parallel = (
        []
        if any(a.startswith(("-n", "--numprocesses")) for a in session.posargs)
        else ["-n", "auto"]
    )
    session.run(
        "pytest", "tests/test_verify.py", "-m", "", f"--report-dir={REPORTS}",
        f"--junitxml={REPORTS / 'verify.xml'}", *parallel, *session.posargs,
    )  # fmt: skip


@nox.session(default=False, allow_parallel=True)
def tests(session: nox.Session) -> None:
    """The test suite on every core, but for the gate itself (``verify`` runs that):
    manual's contract, the engine, the catalog of wrong candidates with the correct
    variants' 2,000-cases-per-dtype false-alarm runs, finite differences, and a smoke run of
    every benchmark (--benchmark-disable)."""
    install(session, "test", "bench")
    session.run("pytest", "-n", "auto", "-m", "", "--ignore=tests/test_verify.py", *session.posargs)
    session.run("pytest", "benchmarks", "--benchmark-disable", "-q")


@nox.session(default=False, allow_parallel=True)
def lint(session: nox.Session) -> None:
    """ruff, mypy --strict, sp-repo-review, and schema and security checks (zizmor) of the
    workflows, the composite action (action.yml) and dependabot's settings."""
    # mypy reads torch's and JAX's sources for their types and imports neither.
    install(session, "lint", byte_compile=False)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("sp-repo-review", ".")
    workflows = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github/workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-actions", "action.yml")
    session.run("check-jsonschema", "--builtin-schema", "vendor.dependabot",
                ".github/dependabot.yml")  # fmt: skip
    session.run("zizmor", "--offline", "--config", ".github/zizmor.yml", ".github/workflows",
                "action.yml")  # fmt: skip


@nox.session(default=False, allow_parallel=True)
def docs(session: nox.Session) -> None:
    """The documentation site (MkDocs, Material, mkdocstrings), built strictly into site/:
    a warning, a broken link or anchor, or a reference that does not resolve fails it.
    ``nox -s docs -- serve`` serves it locally instead. It never runs the benchmarks: the
    figures it shows are the files ``nox -s bench`` writes into docs/."""
    # The API reference is read from the sources (griffe), so the oracles are not needed.
    deps = nox.project.dependency_groups(PYPROJECT, "docs")
    session.install(*deps, *CONSTRAINTS)
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
        return
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"), *session.posargs,
                env={"NO_MKDOCS_2_WARNING": "1"})  # fmt: skip


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks of manual vs JAX vs PyTorch vs the GEMM floor, and the engine's throughput.

    Writes reports/bench.json (pytest-benchmark's format: compare runs with
    ``--benchmark-compare``), reports/bench.md, reports/bench.png, reports/bench_floor.png,
    reports/bench_ratios.md (forward+backward ratios, interleaved round by round),
    reports/bench_second_order.md (jvp, Hv and Gv against one gradient, likewise) and
    reports/profile.md (the engine's stages). The site's figures (docs/bench.png,
    docs/bench_floor.png, docs/profile.png) are written here too, to be committed: the
    docs session only shows them.
    """
    install(session, "bench")
    REPORTS.mkdir(exist_ok=True)
    session.run(
        "pytest", "benchmarks", f"--benchmark-json={REPORTS / 'bench.json'}",
        "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name", *session.posargs,
    )  # fmt: skip
    session.run("python", "benchmarks/report.py", str(REPORTS / "bench.json"), "--out",
                str(REPORTS), "--figures", str(ROOT / "docs"))  # fmt: skip
    # The ratios of the targets, timed side by side (the benchmarks above run one by one).
    session.run("python", "-m", "benchmarks.interleaved", "--out", str(REPORTS))
    session.run("python", "-m", "benchmarks.second_order", "--out", str(REPORTS))
    with (REPORTS / "profile.md").open("w") as profile:
        session.run("python", "-m", "benchmarks.profile_engine", "--cases", "1000", "--plot",
                    str(ROOT / "docs" / "profile.png"), stdout=profile)  # fmt: skip


@nox.session(default=False)
def compare(session: nox.Session) -> None:
    """handgrad beside torch.autograd.gradcheck and jax.test_util.check_grads on this
    network, with pinned seeds: false alarms on correct code and cost per fresh shape.
    Writes reports/compare.md and compare.json (pass ``-- --seeds 5`` for a shorter run)."""
    install(session)
    session.run("python", "-m", "benchmarks.compare_tools", "--out", str(REPORTS),
                *session.posargs)  # fmt: skip


if __name__ == "__main__":
    nox.main()
