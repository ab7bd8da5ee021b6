"""The code passes ruff, as configured in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys

from service.config import PROJECT_ROOT


def test_ruff_finds_nothing() -> None:
    ruff = shutil.which("ruff") or str(PROJECT_ROOT / ".venv" / "bin" / "ruff")
    result = subprocess.run(
        [ruff, "check", "--quiet", str(PROJECT_ROOT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sys.version_info >= (3, 11)
