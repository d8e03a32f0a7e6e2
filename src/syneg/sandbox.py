"""A throwaway copy of this project in its own git + DVC repo, for end-to-end tests and benchmarks.

Example:
    >>> proj = Sandbox.create("/tmp/syneg-sbx", beir_dir="/tmp/beir", params={"train": {"batch_size": 8}})  # doctest: +SKIP
    >>> proj.run("dvc", "repro")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = ["dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"]
FOLDERS = ["stages", "src", "data/annotations"]


def stage_args(stage: str, root: Path = ROOT, dataset: str = "scifact") -> list[str]:
    """The script and arguments dvc.yaml runs for ``stage`` on ``dataset`` (templating resolved), from the
    script on (no ``PYTHONPATH=src python``): tests run a stage exactly as DVC would."""
    import shlex

    from syneg.dag import body, script_of
    from syneg.params import read, resolve

    cmd = body(yaml.safe_load((root / "dvc.yaml").read_text())["stages"][stage])["cmd"]
    words = shlex.split(resolve(cmd, {**read(root / "params.yaml"), "item": dataset}))
    return words[words.index(script_of(cmd).as_posix()):]


def ran_stages(output: str) -> set[str]:
    """The stages a ``dvc repro`` / ``dvc exp run`` output says it ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


@dataclass
class Sandbox:
    path: Path
    env: dict[str, str]

    @classmethod
    def create(cls, dest: str | os.PathLike, beir_dir: str | os.PathLike,
               params: dict[str, dict] | None = None, source: Path = ROOT) -> "Sandbox":
        """Copy the project's pipeline files to ``dest``, apply ``params`` overrides, ``git init`` and
        ``dvc init`` it, fetch the dataset from ``beir_dir`` into ``data/raw`` (``dvc add``), with a cache of its
        own."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copy(source / name, dest / name)
        for name in FOLDERS:
            shutil.copytree(source / name, dest / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        if params:
            data = yaml.safe_load((dest / "params.yaml").read_text())
            for section, values in params.items():
                data.setdefault(section, {}).update(values)
            (dest / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "SYNEG_BEIR_DIR": str(beir_dir), "SYNEG_CACHE_DIR": str(dest / ".cache" / "syneg"),
               "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "syneg", "GIT_AUTHOR_EMAIL": "syneg@localhost",
               "GIT_COMMITTER_NAME": "syneg", "GIT_COMMITTER_EMAIL": "syneg@localhost"}
        box = cls(dest, env)
        box.run("git", "init", "-q")
        box.run("dvc", "init", "-q")
        box.run("dvc", "config", "core.analytics", "false")
        box.run(sys.executable, "-m", "syneg.data.fetch")  # data/raw/<dataset>, tracked by a .dvc file
        box.commit("sandbox")  # DVCLive and `dvc exp` need a commit to stand on
        return box

    def run(self, *cmd: str, timeout: float = 1800, stdout_only: bool = False) -> str:
        """Run ``cmd`` in the sandbox and return its output; raise with the output's tail when it fails."""
        res = subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
        return res.stdout if stdout_only else res.stdout + res.stderr

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)
