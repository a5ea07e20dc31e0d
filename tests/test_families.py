"""The published APIs (``--api``): detected from a module's own names, each family's correct
candidate passing within its natural scope, and a mistake of each family rejected with
its cause through the gate's pytest run (what ``nox -s verify`` runs);
``tests/test_grade.py`` takes the whole catalog, every mistake with its cause, through
``handgrad grade``.

The candidates are in ``tests/candidates/families/``, laid out as the published code is.
They are written by the same hands as the adapters: published code, kept outside this
repository, is run through the same commands.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from handgrad import cli
from handgrad.candidate import LoadError, load_candidate
from handgrad.engine import verify_many
from handgrad.quantities import QUANTITIES as CATALOG_ORDER
from handgrad.scope import Scope
from tests.test_docs import PAGES

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ROOT / "tests" / "candidates" / "families"
PATH = ("--path", str(FAMILIES))

# family: (its options, {entry point: None if correct, else (first failing quantity, the
# function that gave it, a pattern of the likely cause)}). An entry "module:Name" is
# re-exported by a submission as the family's default name.
CATALOG: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, str, str] | None]]] = {
    "cs231n-a1": (("--l2", "0.05", "--l2-form", "full"), {
        "cs231n.classifiers.neural_net:TwoLayerNet": None,
        "cs231n.classifiers.neural_net:NoRowMaxNet": (
            "loss", "NoRowMaxNet.loss", r"subtract each row's (own )?maximum"),
        "cs231n.classifiers.neural_net:NoReluMaskNet": (
            "dL/dw1", "grads['W1']", r"ReLU mask missing"),
        "cs231n.classifiers.neural_net:LogOfSoftmaxNet": (
            "loss", "LogOfSoftmaxNet.loss", r"−log of a p that underflowed"),
        "cs231n.classifiers.neural_net:HalfL2GradientNet": (
            "dL/dw2", "grads['W2']", r"the loss and its gradient disagree"),
    }),
    "cs231n-layers": ((), {
        "cs231n.layers": None,
        "cs231n.layers_float64_mask": (
            "dL/ds1", "relu_backward", r"a float64 constant or cast promoted"),
        "cs231n.layers_keepdims_bias": (
            "dL/db2", "affine_backward (second layer) → db", r"an extra axis of length 1"),
        "cs231n.layers_no_row_max": ("loss", "softmax_loss", r"subtract each row's (own )?maximum"),
        "cs231n.layers_mask_ge": ("dL/ds1", "relu_backward", r"use \[s1 > 0\], not ≥"),
    }),
    "cs231n-fc": (("--l2", "0.05"), {
        "cs231n.classifiers.fc_net:TwoLayerNet": None,
        "cs231n.classifiers.fc_net:FullL2Net": (
            "loss", "FullL2Net.loss", r"declare --l2-form full"),
        "cs231n.classifiers.fc_net:L2OnBiasesNet": (
            "loss", "L2OnBiasesNet.loss", r"also covers the biases"),
        "cs231n.classifiers.fc_net:L2MissingInGradientsNet": (
            "dL/dw2", "grads['W2']", r"the term is missing there"),
        "cs231n.classifiers.fc_net:NoReluMaskNet": (
            "dL/dw1", "grads['W1']", r"ReLU mask missing"),
    }),
    "nnfs": (("--l2", "0.05"), {
        "nnfs_classes": None,
        "nnfs_clipped_p": ("loss", "Activation_Softmax_Loss_CategoricalCrossentropy.forward",
                           r"clip\(p, 1e-07, 1 − 1e-07\)"),
        "nnfs_no_relu_mask": ("dL/ds1", "Activation_ReLU.backward", r"ReLU mask \[s1 > 0\]"),
        "nnfs_no_row_max": ("p", "forward → output", r"subtract each row's maximum"),
        "nnfs_half_l2_gradient": (
            "dL/dw2", "Layer_Dense.backward (second layer) → dweights",
            r"the loss and its gradient disagree"),
    }),
    "dlfs": ((), {
        "ch05.two_layer_net:TwoLayerNet": None,
        "ch05.two_layer_net_mistakes:LogPlusEpsilonNet": (
            "loss", "SoftmaxWithLoss.forward", r"a constant inside the log"),
        "ch05.two_layer_net_mistakes:ReluMaskGeNet": (
            "dL/ds1", "Relu1.backward", r"use \[s1 > 0\], not ≥"),
        "ch05.two_layer_net_mistakes:KeepdimsBiasNet": (
            "dL/db2", "Affine2.backward → db", r"an extra axis of length 1"),
        "ch05.two_layer_net_mistakes:ForgotBatchMeanNet": (
            "dL/ds2", "SoftmaxWithLoss.backward", r"the 1/N of reduction='mean' is missing"),
    }),
}  # fmt: skip


@pytest.mark.parametrize(("name", "api"), [
    ("cs231n.classifiers.neural_net", "cs231n-a1"),
    ("cs231n.layers", "cs231n-layers"),
    ("cs231n.classifiers.fc_net", "cs231n-fc"),  # it star-imports every layer function
    ("nnfs_classes", "nnfs"),
    (str(FAMILIES / "ch05" / "two_layer_net.py"), "dlfs"),  # star-imports the layers
    ("common.layers", "dlfs"),
    ("tests.candidates.coursework_labels_mean", "module"),
])  # fmt: skip
def test_the_published_layouts_are_detected(name: str, api: str) -> None:
    loaded = load_candidate(name, (str(FAMILIES),))
    assert loaded.api == api
    assert (f"--api {api}" in loaded.command) == (api != "module")


def test_an_ambiguous_module_an_unknown_api_and_l2_without_a_regulariser_stop_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "both.py").write_text(
        "from cs231n.layers import *\n"
        "from cs231n.layers import affine_forward as _a, affine_backward as _b\n"
        "from cs231n.layers import relu_forward as _c, relu_backward as _d, softmax_loss as _e\n"
        "from cs231n.classifiers.neural_net import TwoLayerNet as _Net\n\n"
        "class TwoLayerNet(_Net):\n    pass\n\n"
        "def affine_forward(x, w, b): return _a(x, w, b)\n"
        "def affine_backward(dout, cache): return _b(dout, cache)\n"
        "def relu_forward(x): return _c(x)\n"
        "def relu_backward(dout, cache): return _d(dout, cache)\n"
        "def softmax_loss(x, y): return _e(x, y)\n"
    )
    with pytest.raises(LoadError, match=r"matches more than one API \(cs231n-a1, "
                       r"cs231n-layers\); say which with --api"):  # fmt: skip
        load_candidate(str(tmp_path / "both.py"), (str(FAMILIES),))
    chosen = load_candidate(str(tmp_path / "both.py"), (str(FAMILIES),), api="cs231n-layers")
    assert chosen.api == "cs231n-layers"
    assert "--api cs231n-layers" in chosen.command
    with pytest.raises(LoadError, match=r"^--api: expected one of module, function, cs231n-a1"):
        load_candidate("cs231n.layers", (str(FAMILIES),), api="cs231n")
    for argv, message in [
        (["--candidate", "cs231n.layers", "--api", "cs231n"], "argument --api: invalid choice"),
        (["--candidate", "cs231n.layers", "--l2", "0.1", "--l2-form", "full"],
         "cs231n-layers's layer functions have no regulariser"),
        (["--candidate", "ch05.two_layer_net", "--l2", "0.1", "--l2-form", "half"],
         "dlfs's two-layer net has no regulariser"),
        (["--candidate", "cs231n.classifiers.neural_net", "--l2", "0.1"],
         "--l2 needs --l2-form full or half"),  # assignment 1 has no natural form
        (["--candidate", "cs231n.layers:relu_backward", "--api", "cs231n-layers"],
         "cs231n-layers has no entry point to name"),
        (["--candidate", "cs231n.layers_float64_mask"],  # star-imports the layers
         "it holds the names of cs231n-layers, but imports them rather than defining them"),
        (["--candidate", str(FAMILIES / "cs231n" / "classifiers" / "fc_net.py")],
         f"name it as a module, --candidate cs231n.classifiers.fc_net --path {FAMILIES}"),
    ]:  # fmt: skip
        with pytest.raises(SystemExit) if "invalid choice" in message else nullcontext():
            assert cli.main(["run", *PATH, *argv, "--cases", "1"]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert len(err.strip().splitlines()) <= 2, err  # one line (argparse adds its usage)


def _documented_commands() -> dict[str, list[str]]:
    """The documented command for each family, `nox -s verify -- ARGS`, by its --api: from
    the README and the pages, which must agree where both have one."""
    found: dict[str, list[str]] = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for line in re.findall(r"^python3 -m nox -s verify -- (.*--api .*)$", text, re.MULTILINE):
            args = shlex.split(line)
            api = args[args.index("--api") + 1]
            assert found.setdefault(api, args) == args, f"{page.name} differs on {api}"
    return found


def _verify(args: list[str], report: Path) -> tuple[int, dict[str, Any], str]:
    """What ``nox -s verify -- ARGS`` runs, in this environment: the gate's pytest run."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_verify.py"), "-m", "",
         "-q", "-p", "no:cacheprovider", f"--report-dir={report}", *args],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    return run.returncode, json.loads((report / "verify.json").read_text()), run.stdout


def test_the_docs_have_a_command_for_each_family() -> None:
    assert set(_documented_commands()) == set(CATALOG)


@pytest.mark.parametrize("family", CATALOG)
def test_the_documented_command_passes_the_correct_one_through_verify(
    family: str, tmp_path: Path
) -> None:
    args = _documented_commands()[family]
    rc, report, output = _verify(args, tmp_path)
    assert rc == 0, output[-3000:]
    assert report["api"] == family
    assert report["cases"] >= 100, report["cases"]


MISTAKES = [(family, next(e for e, expected in entries.items() if expected is not None))
            for family, (_, entries) in CATALOG.items()]  # fmt: skip
"""One mistake per family: every other goes through ``handgrad grade``
(``tests/test_grade.py``), which verifies each submission in a gate process of its own and
checks the same quantity, function and cause. This run proves the pytest front end: the
family's options, its report and its message line."""


@pytest.mark.parametrize(("family", "entry"), MISTAKES, ids=[e for _, e in MISTAKES])
def test_a_mistake_is_rejected_with_its_cause_through_verify(
    family: str, entry: str, tmp_path: Path
) -> None:
    """A family's mistake, through the gate's pytest run, on the edge cases (where each
    shows) and one random case: its first failing quantity, the function that gave it, its
    cause.
    Hypothesis is deselected: a failing candidate makes it shrink, which took up to 98 s
    a mistake here and adds nothing to what the first failing quantity shows."""
    options, entries = CATALOG[family]
    expected = entries[entry]
    assert expected is not None
    quantity, source, cause = expected
    rc, report, output = _verify([*PATH, "--candidate", entry, "--api", family, *options,
                                  "--cases", "1", "-k", "not hypothesis"], tmp_path)  # fmt: skip
    assert rc == 1, output[-3000:]
    compared = [f for f in report["failing"] if f["quantity"]]
    first = min(compared, key=lambda f: list(CATALOG_ORDER).index(f["quantity"]))
    assert first["quantity"] == quantity, first
    same = [f for f in compared if f["quantity"] == quantity]
    assert any(source in str(f["source"]) and re.search(cause, str(f["cause"])) for f in same), (
        same[:3])  # fmt: skip
    assert f"{quantity} mismatch, from " in output


def test_a_layer_that_writes_into_its_dout_is_a_note_and_its_report_names_the_family(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    rc = cli.main(["run", *PATH, "--candidate", "ch05.two_layer_net", "--cases", "20",
                   "--no-edge", "--report-dir", str(out)])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0, text
    note = (
        "Relu1.backward writes into its dout: harmless here, wrong if the caller reads dout again"
    )
    assert f"note: {note}" in text
    report = json.loads((out / "verify.json").read_text())
    assert report["notes"] == [note]
    assert report["api"] == "dlfs"
    assert report["names"] == ["TwoLayerNet"]
    assert "API: dlfs (names used: TwoLayerNet)." in (out / "verify.md").read_text()


def test_the_books_last_chapters_and_nnfs_init(tmp_path: Path) -> None:
    """nnfs's final API (no combined forward, a Loss that accumulates from new_pass, the
    regulariser through remember_trainable_layers) runs; its clipped loss is named, and
    nothing else fails. Under nnfs.init()'s np.dot only float32 is claimed, with a note."""
    final = load_candidate("nnfs_final", (str(FAMILIES),), api="nnfs")
    scope = Scope.of(final, l2=0.05)
    specs = scope.random_specs(3, 60) + scope.edge_specs(3)
    results = list(verify_many(final, specs, scope.relu_at_zero, scope.l2))
    assert not [r.error for r in results if r.error]
    failing = {c.quantity for r in results for c in r.failures}
    assert failing == {"loss"}, failing
    causes = {c.cause for r in results for c in r.failures}
    # Where one number fits more than one wrong formula, no cause is named: never a wrong one.
    assert all(not c or "clip(p, 1e-07" in c or "underflowed" in c for c in causes), causes
    assert any("clip(p, 1e-07" in c for c in causes), causes
    patched = load_candidate("nnfs_init", (str(FAMILIES),), api="nnfs")
    assert Scope.of(patched).dtypes == ("float32",)
    assert any("nnfs.init()" in note for note in patched.notes)
    out = tmp_path / "report"
    assert cli.main(["run", *PATH, "--candidate", "nnfs_init", "--api", "nnfs", "--cases", "30",
                     "--report-dir", str(out)]) == 0  # fmt: skip
    assert any("nnfs.init()" in n for n in json.loads((out / "verify.json").read_text())["notes"])


def test_a_class_named_without_api_takes_its_family() -> None:
    loaded = load_candidate("cs231n.classifiers.neural_net:NoRowMaxNet", (str(FAMILIES),))
    assert loaded.api == "cs231n-a1"
    with pytest.raises(LoadError, match=r"it names a class, not a function: say which API"):
        load_candidate("nnfs_classes:Layer_Dense", (str(FAMILIES),))


def test_a_layer_fed_a_failing_input_is_not_blamed(capsys: pytest.CaptureFixture[str]) -> None:
    """relu_backward's float64 mask: the first message names relu_backward, and the
    affine_backward fed its output is told where the failure starts."""
    case = "N=3,D=4,H=5,C=2,dtype=float32,target=labels,reduction=mean,kind=random,seed=1"
    rc = cli.main(["check", *PATH, "--candidate", "cs231n.layers_float64_mask", "--api",
                   "cs231n-layers", "--case", case])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 1
    messages = text.split("\n\n", 1)[1]
    first = messages.splitlines()[1]
    assert first.startswith("dL/ds1 mismatch, from relu_backward:"), first
    assert "a float64 constant or cast promoted the result" in messages
    assert "dL/dx mismatch, from affine_backward (first layer) → dx" in messages
    assert ("likely cause: it is computed from dL/ds1, from relu_backward, which fails in this "
            "case: affine_backward (first layer) → dx was fed the candidate's own dL/ds1") in (
        messages)  # fmt: skip
