"""The published APIs, and how a candidate is matched to one (``--api``, or detected).

``--api`` takes one of :data:`APIS`: "module" (manual's API), "function" (a plain
function) or a family, each in a module of its own:

- ``cs231n-a1``: CS231n assignment 1's ``TwoLayerNet`` (:mod:`handgrad.adapters.cs231n_a1`);
- ``cs231n-layers``: assignment 2's layer functions (:mod:`handgrad.adapters.cs231n_layers`);
- ``cs231n-fc``: assignment 2's ``fc_net.TwoLayerNet`` (:mod:`handgrad.adapters.cs231n_fc`);
- ``nnfs``: the nnfs book's classes (:mod:`handgrad.adapters.nnfs`);
- ``dlfs``: deep-learning-from-scratch's layers (:mod:`handgrad.adapters.dlfs`).

Without ``--api``, ``module:name`` is a plain function, and a module's family is found
from the names it defines itself, not from those it star-imports (fc_net imports every
layer function). A module that matches two is an error that names them.
"""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

from handgrad.adapters import cs231n_a1, cs231n_fc, cs231n_layers, dlfs, function, module, nnfs
from handgrad.adapters.calls import find
from handgrad.candidate import Candidate, LoadError

FAMILIES = {f.NAME: f for f in (cs231n_a1, cs231n_layers, cs231n_fc, nnfs, dlfs)}
APIS = ("module", "function", *FAMILIES)
"""Every value of ``--api``."""


def check(api: str) -> str:
    """``api`` if it is known ("" for: detect it); a LoadError naming the known ones."""
    if api and api not in APIS:
        raise LoadError(f"--api: expected one of {', '.join(APIS)}, got {api!r}")
    return api


CLASSES = ("cs231n-a1", "cs231n-fc", "dlfs")
"""The families whose entry point is a class (``module:Name``)."""


def _class_family(imported: ModuleType, name: str) -> str:
    """The family of a module whose class ``module:Name`` names, when only one of those
    with a class entry point matches it; a LoadError asking for --api otherwise."""
    found = [f for f in CLASSES if _detects(FAMILIES[f], imported)]
    if len(found) != 1:
        raise LoadError(f"--candidate {name}: it names a class, not a function: say which API "
                        f"it follows with --api ({', '.join(CLASSES)})")  # fmt: skip
    return found[0]


def _has_module_api(imported: ModuleType) -> bool:
    return all(hasattr(imported, a) for a in module.REQUIRED)


def detected(imported: ModuleType) -> list[str]:
    """The APIs the module's own names match: "module" for manual's, and each family."""
    found = ["module"] if _has_module_api(imported) else []
    return found + [name for name, family in FAMILIES.items() if _detects(family, imported)]


def _detects(family: ModuleType, imported: ModuleType) -> bool:
    try:
        return bool(family.detect(imported))
    except Exception:  # noqa: BLE001 (the candidate's objects may raise anything when asked)
        return False


def _imported(imported: ModuleType) -> list[str]:
    """The families whose names the module holds without defining them: one that
    star-imports another module's layers and redefines one of them, say."""
    held = []
    if len(cs231n_layers.functions(imported)) == len(cs231n_layers.FUNCTIONS):
        held.append(cs231n_layers.NAME)
    if find(imported, cs231n_a1.ENTRY) is not None:
        held += [cs231n_a1.NAME, cs231n_fc.NAME]
    if all(find(imported, c) is not None for c in nnfs.REQUIRED):
        held.append(nnfs.NAME)
    if all(find(imported, c) is not None for c in dlfs.LAYERS) or cs231n_a1.NAME in held:
        held.append(dlfs.NAME)
    return held


def adapt(imported: ModuleType, name: str, path: tuple[str, ...], api: str,
          attribute: str) -> Candidate:  # fmt: skip
    """The candidate ``name`` (``attribute``: what follows its colon) as the engine sees it."""
    explicit = bool(check(api))
    if not api:
        if attribute and isinstance(getattr(imported, attribute, None), type):
            api = _class_family(imported, name)
        elif attribute:
            api = "function"
        else:
            found = detected(imported)
            if len(found) > 1:
                raise LoadError(f"--candidate {name}: it matches more than one API "
                                f"({', '.join(found)}); say which with --api")  # fmt: skip
            held = [] if found or _has_module_api(imported) else _imported(imported)
            if held:
                raise LoadError(f"--candidate {name}: no API detected: it holds the names of "
                                f"{' or '.join(held)}, but imports them rather than defining "
                                "them; say which API it follows with --api")  # fmt: skip
            # Nothing matched: manual's API, whose message names what is missing.
            api = found[0] if found else "module"
    if api == "function":
        if not attribute:
            raise LoadError(f"--candidate {name}: --api function needs module:function")
        f = getattr(imported, attribute, None)
        if f is None:
            raise LoadError(f"--candidate {name}: {imported.__name__} defines no {attribute!r}")
        if not callable(f):
            raise LoadError(f"--candidate {name}: {attribute} is a {type(f).__name__}, not a "
                            "function")  # fmt: skip
        loaded = function.adapt(f, imported, name, path)
    elif api == "module":
        if attribute:
            raise LoadError(f"--candidate {name}: --api module takes a module, not {attribute}")
        loaded = module.adapt(imported, name, path)
    else:
        loaded = FAMILIES[api].adapt(imported, name, path, attribute)
    return replace(loaded, explicit=True) if explicit else loaded
