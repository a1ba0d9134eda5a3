"""Where this pyrnn was imported from, and whether that copy can have its compiled modules.

Python started in the repository's root (``python``, ``python -m pyrnn``, a script there) puts
that folder first on sys.path, so ``import pyrnn`` finds the source tree's ``pyrnn/``, which
has no compiled modules, ahead of the installed copy. Everything would then quietly run on the
fallbacks. `source_tree_problem()` names that situation; pyrnn warns once at import, and the
compiled backends give it as the reason they are unusable.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _installed_copy():
    """The package folder of the installed pyrnn distribution, or None."""
    try:
        dist = importlib.metadata.distribution("pyrnn")
    except importlib.metadata.PackageNotFoundError:
        return None
    where = os.path.dirname(os.path.abspath(str(dist.locate_file("pyrnn/__init__.py"))))
    return where if os.path.isdir(where) else None


def source_tree_problem(short: bool = False) -> str | None:
    """A message when pyrnn is imported from a source checkout that lacks pyrnn._cpu (an editable
    install finds its modules and is fine; so is an installed copy); None otherwise. `short`: one
    clause, for a backend's reason in `pyrnn info`."""
    checkout = os.path.dirname(PACKAGE_DIR)
    if not os.path.isfile(os.path.join(checkout, "CMakeLists.txt")):
        return None  # an installed copy, not a checkout
    if importlib.util.find_spec("pyrnn._cpu") is not None:
        return None
    installed = _installed_copy()
    shadowed = installed is not None and installed != PACKAGE_DIR
    if short:
        return (f"pyrnn was imported from the source tree {PACKAGE_DIR}, which has no compiled modules"
                + (f" (the installed copy in {installed} has them): run from another folder" if shadowed
                   else ": install pyrnn (README.md), then run from another folder"))
    if shadowed:
        where = (f"The installed pyrnn ({installed}) is shadowed: Python put this folder first on "
                 f"sys.path. Run from another folder (`pytest` and the `pyrnn` command work from here), "
                 f"or install editable: pip install --no-build-isolation -e '.[test]'")
    else:
        where = "pyrnn is not installed: run pip install '.[plot,test]' (see README.md), then run from another folder"
    return (f"pyrnn was imported from the source tree {PACKAGE_DIR}, which has no compiled modules "
            f"(pyrnn._cpu, pyrnn._cuda): every op would run on the numba or reference fallback. {where}")
