#!/usr/bin/env python3
"""Set-up in one command: a virtual environment in .venv, the project installed into it, then

    python3 dev.py serve   run the service in development on embedded defaults (SQLite, no
                           other servers)
    python3 dev.py test    run the test suite (pytest arguments may follow)

Needs only Python 3.11+. Re-installs only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def ensure_environment(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed = STAMP.read_text().split(":") if STAMP.exists() else ["", ""]
    if installed[0] == digest and (not extras or extras in installed[1:]):
        return
    extras = extras or (installed[1] if installed[0] == digest else "")
    wanted = f"{digest}:{extras}"
    print(f"dev.py: installing the project{' with ' + extras if extras else ''}", flush=True)
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            target,
        ],
        check=True,
    )
    STAMP.write_text(wanted)


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    args = sys.argv[2:]
    if command == "serve":
        ensure_environment("")
        # Development is chosen here, explicitly; `newsletter dev` records it in instance/ so
        # that commands run in a second terminal find it. Anything else runs as production.
        env = {**os.environ}
        env.setdefault("NEWSLETTER_ENV", "development")
        return subprocess.call([str(BIN / "newsletter"), "dev", *args], cwd=ROOT, env=env)
    if command == "test":
        ensure_environment("test")
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT)
    print(__doc__)
    return 0 if command == "help" else 2


if __name__ == "__main__":
    sys.exit(main())
