"""Options, the shared ``problem`` fixture and the machine description of the benchmark JSON.

``--bench-shapes small`` keeps the three smaller shapes (for a quick smoke run);
``--bench-torch-compile`` adds torch.compile, which is off by default because inductor
spends 4–23 s compiling each shape × dtype on this CPU (measured), more than all the
timing it would be compared with.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.problems import (
    CORES,
    DTYPES,
    SHAPES,
    SMALL_SHAPES,
    Problem,
    make_problem,
    shape_id,
)

IMPLEMENTATIONS = ("manual", "gemm_floor", "jax", "torch", "torch_compile")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("handgrad-bench", "handgrad benchmarks")
    group.addoption("--bench-shapes", choices=("all", "small"), default="all",
                    help="'small' keeps the shapes up to (256, 784, 256, 10) (default: all)")  # fmt: skip
    group.addoption("--bench-torch-compile", action="store_true", default=False,
                    help="also time torch.compile (compiles each shape × dtype: slow)")  # fmt: skip


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``problem`` per shape × dtype at session scope, and ``impl``.

    Session scope makes pytest run every test of one problem together and free its arrays
    before building the next, so only one large problem is alive at a time.
    """
    config = metafunc.config
    if "problem" in metafunc.fixturenames:
        shapes = SMALL_SHAPES if config.getoption("bench_shapes") == "small" else SHAPES
        keys = [(shape, dtype) for shape in shapes for dtype in DTYPES]
        metafunc.parametrize("problem", keys, indirect=True, scope="session",
                             ids=[f"{shape_id(s)}-{d}" for s, d in keys])  # fmt: skip
    if "impl" in metafunc.fixturenames:
        skip = pytest.mark.skip(
            reason="torch.compile is opt-in (--bench-torch-compile): inductor takes 4-23 s "
            "per shape x dtype on this CPU, and compiled is no faster than eager at small shapes"
        )
        # Importing inductor trips a DeprecationWarning inside torch itself (torch.jit in
        # torch.utils.mkldnn), which the project's filterwarnings = ["error"] would fail.
        inductor_import = pytest.mark.filterwarnings(
            "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
        )
        compile_marks = inductor_import if config.getoption("bench_torch_compile") else skip
        params = [pytest.param(name, marks=compile_marks if name == "torch_compile" else ())
                  for name in IMPLEMENTATIONS]  # fmt: skip
        metafunc.parametrize("impl", params)


@pytest.fixture(scope="session")
def problem(request: pytest.FixtureRequest) -> Problem:
    shape, dtype = request.param
    return make_problem(shape, dtype)


# --- machine description ---------------------------------------------------------------------


def _openblas() -> dict[str, Any]:
    """Runtime thread count and kernel of the OpenBLAS that NumPy loaded, if it can be found.

    NumPy reports its build configuration but not the library's runtime state; the symbols
    carry a suffix in the scipy-openblas wheels, hence the list of names.
    """
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return {}
    paths = {line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line}
    info: dict[str, Any] = {}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for key, names, restype in (
            ("threads", ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"),
             ctypes.c_int),
            ("config", ("scipy_openblas_get_config64_", "openblas_get_config"), ctypes.c_char_p),
            ("core", ("scipy_openblas_get_corename64_", "openblas_get_corename"),
             ctypes.c_char_p),
        ):  # fmt: skip
            for name in names:
                if hasattr(lib, name):
                    fn = getattr(lib, name)
                    fn.restype = restype
                    value = fn()
                    info[key] = value.decode() if isinstance(value, bytes) else value
                    break
        info["library"] = path
    return info


def pytest_benchmark_update_machine_info(machine_info: dict[str, Any]) -> None:
    """Add thread counts, BLAS builds and library versions under ``machine_info["handgrad"]``."""
    import jax
    import torch

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    env = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
    machine_info["handgrad"] = {
        "cores": CORES,
        "torch_threads_passes": CORES,
        "torch_interop_threads": torch.get_num_interop_threads(),
        "numpy": np.__version__,
        "numpy_blas": f"{blas.get('name')} {blas.get('version')}",
        "openblas": _openblas(),
        "torch": torch.__version__,
        "torch_parallel_info": torch.__config__.parallel_info(),
        "torch_config": torch.__config__.show(),
        "jax": jax.__version__,
        "jax_devices": [str(d) for d in jax.devices()],
        "environment": {k: os.environ.get(k) for k in env},
    }
