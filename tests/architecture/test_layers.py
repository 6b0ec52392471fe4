"""The layers hold, and a wrong import breaks the build.

The contracts live in pyproject.toml ([tool.importlinter]); `./dev test` runs `lint-imports`.
These tests run it on a copy of the code with one forbidden import added, to show that the
contracts really catch it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("delphi", "demo", "panelists", "reports", "rounds")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "pyproject.toml", "--no-cache"],
        cwd=tree, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's code (no virtualenv, no data)."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layers_of_the_project_are_kept() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_core_importing_the_panelists_app_breaks_the_build(tree: Path) -> None:
    (tree / "rounds" / "probe.py").write_text("from panelists import services  # noqa\n")
    done = lint(tree)
    assert done.returncode != 0
    assert "rounds is not allowed to import panelists" in done.stdout
    assert "rounds.probe -> panelists.services" in done.stdout


def test_panelists_importing_reports_breaks_the_build(tree: Path) -> None:
    (tree / "panelists" / "probe.py").write_text("from reports import pdf  # noqa\n")
    done = lint(tree)
    assert done.returncode != 0
    assert "panelists is not allowed to import reports" in done.stdout
    assert "panelists.probe -> reports.pdf" in done.stdout


def test_a_pure_helper_importing_django_breaks_the_build(tree: Path) -> None:
    charts = tree / "rounds" / "charts.py"
    charts.write_text(charts.read_text() + "\nimport django  # noqa\n")
    done = lint(tree)
    assert done.returncode != 0
    assert "rounds.charts -> django" in done.stdout
