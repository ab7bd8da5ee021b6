"""The code passes ruff, as configured in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess

from service.config import PROJECT_ROOT


def _ruff() -> str:
    return shutil.which("ruff") or str(PROJECT_ROOT / ".venv" / "bin" / "ruff")


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [_ruff(), "check", "--quiet", str(PROJECT_ROOT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_would_see_a_fault_in_the_service() -> None:
    """The check above means something: with the project's settings, ruff flags an unused
    import and an old-style annotation in a file under service/."""
    bad = "from typing import List\nimport os\n\n\ndef f(x: List[int]) -> None:\n    pass\n"
    result = subprocess.run(
        [_ruff(), "check", "--stdin-filename", str(PROJECT_ROOT / "service" / "example.py"), "-"],
        input=bad, capture_output=True, text=True, check=False, cwd=PROJECT_ROOT,
    )
    assert result.returncode == 1
    assert "F401" in result.stdout and "UP006" in result.stdout
