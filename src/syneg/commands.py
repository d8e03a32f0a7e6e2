"""Run a command-line tool (``dvc``, ``git``) for the reporting commands, failing with one line.

Example:
    >>> run(["git", "--version"]).startswith("git version")
    True
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def run(args: list[str], cwd: str | Path = ".", error: type[Exception] = RuntimeError) -> str:
    """The command's stdout; on a non-zero exit, ``error`` naming the command, the folder and its last line."""
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise error(f"`{' '.join(args)}` failed in {cwd}: {last}")
    return done.stdout
