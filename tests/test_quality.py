"""The code's own checks run with the tests, so `main` stays lint- and type-clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        found = shutil.which(tool)
        if found is None:
            pytest.fail(f"{tool} is not installed: pip install -e '.[test]'")
        exe = Path(found)
    return subprocess.run([str(exe), *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    r = _run("ruff", "check", "tui", "tests")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy() -> None:
    r = _run("mypy")
    assert r.returncode == 0, r.stdout + r.stderr


def test_engine_never_imports_the_ui() -> None:
    r = _run("lint-imports")
    assert r.returncode == 0, r.stdout + r.stderr
