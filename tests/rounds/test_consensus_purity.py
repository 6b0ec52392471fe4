"""Every module of rounds.consensus, and rounds.csvio, stays free of Django (house style)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rounds" / "consensus"
# Found on disk, not through an import, so a new module is covered without editing this list.
ENGINE_MODULES = sorted(
    "rounds.consensus" + ("" if path.stem == "__init__" else f".{path.stem}")
    for path in PACKAGE.glob("*.py")
)


def test_the_engine_modules_are_all_found() -> None:
    names = ["analyse", "between", "counting", "decisions", "describe", "kendall",
             "margin_search", "margins", "quantiles", "rules", "settings"]  # fmt: skip
    expected = {"rounds.consensus", *(f"rounds.consensus.{name}" for name in names)}
    assert expected <= set(ENGINE_MODULES)


@pytest.mark.parametrize("module", [*ENGINE_MODULES, "rounds.csvio"])
def test_it_imports_without_loading_django(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django')\n"
        "print(','.join(loaded))\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env=env, check=True)  # fmt: skip
    assert result.stdout.strip() == ""
