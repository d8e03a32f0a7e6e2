"""Reproductions written down as data, in the style of Pyserini's ``2cr/*.yaml``, and the command that checks them.

Each condition in ``reproductions.yaml`` names a system, the param overrides that make it, the command that
runs it, and the scores it must give with a tolerance: published figures for the baselines, this project's
measured figures for the fine-tuned runs. ``make reproduce`` runs every condition and prints one line per
score, OK or FAIL with the difference.

A condition without overrides is read from the workspace after ``dvc repro``; one with overrides runs as a
temporary DVC experiment (``dvc exp run --temp -S ...``), which reuses every unchanged stage from DVC's run
cache, and is read from that experiment's commit.

Example:
    >>> from syneg.reproduce import Score
    >>> Score("finetuned.ndcg@10", expected=0.6887, tolerance=0.0005).check({"finetuned": {"ndcg@10": 0.6889}})
    (True, 0.6889, 0.0002)

    On the command line::

        python -m syneg.reproduce                 # run and check every condition
        python -m syneg.reproduce --no-run        # check what the workspace's metrics already say
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import typer
import yaml

from syneg.commands import run as run_command
from syneg.params import lookup

CONDITIONS = Path(__file__).with_name("reproductions.yaml")


class ReproductionError(RuntimeError):
    """The conditions file is malformed or a command failed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Score:
    """One expected figure: a dotted key into a metrics file, its value and the tolerance around it."""
    key: str
    expected: float
    tolerance: float
    source: str = ""

    def check(self, metrics: dict) -> tuple[bool, float | None, float | None]:
        """(within tolerance, the measured value, measured - expected); the value is None when absent."""
        value = lookup(metrics, self.key, None)
        if value is None:
            return False, None, None
        diff = round(float(value) - self.expected, 6)
        return abs(diff) <= self.tolerance + 1e-12, float(value), diff


@dataclass(frozen=True)
class Condition:
    name: str
    description: str
    metrics_file: str
    scores: tuple[Score, ...]
    params: dict = field(default_factory=dict)

    @property
    def command(self) -> list[str]:
        """The DVC command that produces this condition's metrics."""
        if not self.params:
            return ["dvc", "repro"]
        sets = [arg for key, value in sorted(self.params.items()) for arg in ("-S", f"{key}={value}")]
        return ["dvc", "exp", "run", "--temp", "--name", f"repro-{self.name}", *sets]


def load_conditions(path: str | Path = CONDITIONS) -> list[Condition]:
    """Parse a reproductions file; a malformed one raises with its path, the condition and the fix."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    conditions = []
    for i, raw in enumerate(data.get("conditions") or []):
        where = f"{path}: condition {i + 1} ({raw.get('name', 'unnamed')})"
        try:
            scores = tuple(Score(key, float(spec["expected"]), float(spec.get("tolerance", data["tolerance"])),
                                 str(spec.get("source", ""))) for key, spec in raw["scores"].items())
            conditions.append(Condition(str(raw["name"]), str(raw.get("description", "")),
                                        str(raw["metrics_file"]), scores, dict(raw.get("params") or {})))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ReproductionError(f"{where}: bad or missing field {err}; each condition needs name, "
                                    f"metrics_file and scores: {{key: {{expected, tolerance}}}}") from None
    if not conditions:
        raise ReproductionError(f"{path}: no conditions; add a `conditions:` list")
    return conditions


def _git_show(repo: Path, rev: str, file: str) -> dict:
    return json.loads(run_command(["git", "show", f"{rev}:{file}"], repo, ReproductionError))


def _experiment_rev(repo: Path, name: str) -> str | None:
    """The commit of experiment ``name`` run on HEAD (DVC keeps it as refs/exps/<HEAD[:2]>/<HEAD[2:]>/<name>),
    or None; one run on an older commit measured older code and does not count."""
    head = run_command(["git", "rev-parse", "HEAD"], repo, ReproductionError).strip()
    ref = f"refs/exps/{head[:2]}/{head[2:]}/{name}"
    found = run_command(["git", "for-each-ref", "--format=%(objectname)", ref], repo, ReproductionError).split()
    return found[0] if found else None


def measure(condition: Condition, repo: str | Path = ".", run: bool = True) -> dict | None:
    """The metrics of ``condition``: run its command (unless ``run`` is false), then read its metrics file.
    A condition with params reads its ``repro-<name>`` experiment run on HEAD; without ``run``, None when
    there is none."""
    repo = Path(repo)
    if run:
        try:
            run_command(condition.command, repo, ReproductionError)
        except ReproductionError as err:
            raise ReproductionError(f"{condition.name}: {err}") from None
    if condition.params:
        name = f"repro-{condition.name}"
        rev = _experiment_rev(repo, name)
        if rev is None:
            if run:
                raise ReproductionError(f"experiment {name} left no commit under refs/exps for HEAD")
            return None
        return _git_show(repo, rev, condition.metrics_file)
    return json.loads((repo / condition.metrics_file).read_text())


def check(conditions: list[Condition], repo: str | Path = ".", run: bool = True,
          echo=print) -> bool:
    """Measure every condition and print one line per score; True when every score measured is within
    tolerance (a condition not run yet under ``run=False`` prints SKIP)."""
    all_ok = True
    for condition in conditions:
        metrics = measure(condition, repo, run)
        if metrics is None:
            echo(f"SKIP {condition.name:<22} sets params and has not run here yet: drop --no-run (with --only "
                 f"{condition.name})")
            continue
        for score in condition.scores:
            ok, value, diff = score.check(metrics)
            all_ok &= ok
            shown = "missing" if value is None else f"{value:.4f} ({diff:+.4f})"
            echo(f"{'OK  ' if ok else 'FAIL'} {condition.name:<22} {score.key:<22} expected "
                 f"{score.expected:.4f} ± {score.tolerance:.4f}, got {shown}")
    return all_ok


def main(conditions: Path = typer.Option(CONDITIONS, help="The reproductions file."),
         only: list[str] = typer.Option([], help="Check only these conditions (repeatable)."),
         run: bool = typer.Option(True, help="--no-run: check the workspace's metrics without running."),
         repo: Path = typer.Option(Path("."), help="The DVC project.")) -> None:
    """Run every reproduction condition and print each score OK or FAIL with the difference."""
    try:
        todo = [c for c in load_conditions(conditions) if not only or c.name in only]
        ok = check(todo, repo, run, echo=typer.echo)
    except ReproductionError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(0 if ok else 1)


if __name__ == "__main__":
    typer.run(main)
