"""Run a command-line tool (``dvc``, ``git``) for the reporting commands, failing with one line; read files of
git revisions and find DVC experiments.

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


def git_show(repo: str | Path, rev: str, path: str) -> str | None:
    """The text of ``path`` at ``rev``, or None when the revision has no such file."""
    done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def experiments(repo: str | Path, name: str) -> list[tuple[str, str]]:
    """``(baseline commit, experiment commit)`` of every DVC experiment named ``name``: DVC keeps each as
    ``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>``."""
    refs = run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"], repo).splitlines()
    out = []
    for line in refs:
        ref, _, commit = line.partition(" ")
        parts = ref.split("/")
        if len(parts) == 5 and parts[4] == name:
            out.append((parts[2] + parts[3], commit))
    return out


def exp_run(name: str, params: dict) -> list[str]:
    """``dvc exp run --temp`` of the experiment ``name`` with ``params`` set (``-S key=value``, sorted)."""
    return ["dvc", "exp", "run", "--temp", "--name", name,
            *[arg for key, value in sorted(params.items()) for arg in ("-S", f"{key}={value}")]]
