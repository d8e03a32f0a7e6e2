"""Reproductions written down as data, in the style of Pyserini's ``2cr/*.yaml``, and the command that checks them.

Each condition in ``reproductions.yaml`` names a system, the param overrides that make it, the command that
runs it, and the scores it must give with a tolerance: published figures for the baselines, this project's
measured figures for the fine-tuned runs. ``make reproduce`` runs every condition and prints one line per
score, OK or FAIL with the difference.

A condition without overrides is read from the workspace after ``dvc repro``; one with overrides runs as a
temporary DVC experiment (``dvc exp run --temp -S ...``), which reuses every unchanged stage from DVC's run
cache, and is read from that experiment's commit.

A fine-tuned condition lists ``seeds`` (``train.seed`` values) instead of a tolerance: it runs once per seed
(the seed params.yaml already has from the workspace, every other as experiment ``repro-<name>-s<seed>``)
and passes when its expected value, itself the mean of ``runs`` seeds (as many as it lists, by default),
lies in the 95% prediction interval ``mean ± t(0.975, k - 1) x sd x sqrt(1/k + 1/runs)`` of the k runs:
a rerun is judged by the spread seeds really have, not by a tolerance tuned to one seed.

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

from syneg.commands import exp_run, experiments, git_show, run as run_command
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
    runs: int | None = None  # seeded: how many seeds' mean ``expected`` is

    def interval(self, values: list[float], level: float = 0.95) -> tuple[float, float, float]:
        """(mean, low, high): where the mean of ``runs`` more seeds falls with probability ``level``, from
        ``values`` (one per seed, at least 2): ``mean ± t(k - 1) x sd x sqrt(1/k + 1/runs)``."""
        import numpy as np
        from scipy import stats

        mean, k = float(np.mean(values)), len(values)
        other = self.runs or k
        half = float(stats.t.ppf(0.5 + level / 2, k - 1) * np.std(values, ddof=1) * np.sqrt(1 / k + 1 / other))
        return mean, mean - half, mean + half

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
    seeds: tuple[int, ...] = ()

    def runs(self, workspace_seed: int | None) -> list[tuple[str | None, list[str]]]:
        """``(experiment name or None for the workspace, command)`` of each run this condition needs."""
        if not self.seeds:
            return [(f"repro-{self.name}" if self.params else None, self.command)]
        out = []
        for seed in self.seeds:
            if not self.params and seed == workspace_seed:
                out.append((None, ["dvc", "repro"]))
                continue
            name = f"repro-{self.name}-s{seed}"
            out.append((name, exp_run(name, {**self.params, "train.seed": seed})))
        return out

    @property
    def command(self) -> list[str]:
        """The DVC command that produces this condition's metrics."""
        return exp_run(f"repro-{self.name}", self.params) if self.params else ["dvc", "repro"]


def load_conditions(path: str | Path = CONDITIONS) -> list[Condition]:
    """Parse a reproductions file; a malformed one raises with its path, the condition and the fix."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    conditions = []
    for i, raw in enumerate(data.get("conditions") or []):
        where = f"{path}: condition {i + 1} ({raw.get('name', 'unnamed')})"
        try:
            seeds = tuple(int(s) for s in raw.get("seeds") or ())
            if len(seeds) == 1:
                raise ValueError("seeds lists one seed; list at least 2 (or none, with a tolerance)")
            scores = tuple(Score(key, float(spec["expected"]),
                                 0.0 if seeds else float(spec.get("tolerance", data["tolerance"])),
                                 str(spec.get("source", "")), int(spec.get("runs", len(seeds))) if seeds else None)
                           for key, spec in raw["scores"].items())
            conditions.append(Condition(str(raw["name"]), str(raw.get("description", "")),
                                        str(raw["metrics_file"]), scores, dict(raw.get("params") or {}), seeds))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ReproductionError(f"{where}: bad or missing field {err}; each condition needs name, "
                                    f"metrics_file and scores: {{key: {{expected, tolerance}}}}, and seeds: "
                                    f"[2 or more train.seed values] where training decides the score") from None
    if not conditions:
        raise ReproductionError(f"{path}: no conditions; add a `conditions:` list")
    return conditions


def _git_show(repo: Path, rev: str, file: str) -> dict:
    text = git_show(repo, rev, file)
    if text is None:
        raise ReproductionError(f"{rev[:10]} has no {file}; rerun the condition (drop --no-run)")
    return json.loads(text)


def _experiment_rev(repo: Path, name: str) -> str | None:
    """The commit of experiment ``name`` run on HEAD, or None; one run on an older commit measured older code
    and does not count."""
    head = run_command(["git", "rev-parse", "HEAD"], repo, ReproductionError).strip()
    found = [commit for baseline, commit in experiments(repo, name) if baseline == head]
    return found[0] if found else None


def _workspace_seed(repo: Path) -> int | None:
    from syneg.params import read

    path = repo / "params.yaml"
    return lookup(read(path), "train.seed", None) if path.is_file() else None


def measure(condition: Condition, repo: str | Path = ".", run: bool = True) -> list[dict] | None:
    """The metrics of each run of ``condition`` (one, or one per seed): run its commands (unless ``run`` is
    false), then read the metrics files, an experiment's from its commit on HEAD; without ``run``, None when
    an experiment it needs has not run on HEAD."""
    repo = Path(repo)
    out = []
    for name, command in condition.runs(_workspace_seed(repo)):
        if run:
            try:
                run_command(command, repo, ReproductionError)
            except ReproductionError as err:
                raise ReproductionError(f"{condition.name}: {err}") from None
        if name is None:
            out.append(json.loads((repo / condition.metrics_file).read_text()))
            continue
        rev = _experiment_rev(repo, name)
        if rev is None:
            if run:
                raise ReproductionError(f"experiment {name} left no commit under refs/exps for HEAD")
            return None
        out.append(_git_show(repo, rev, condition.metrics_file))
    return out


def check(conditions: list[Condition], repo: str | Path = ".", run: bool = True,
          echo=print) -> bool:
    """Measure every condition and print one line per score; True when every score measured is within
    tolerance, or for a seeded condition within its interval (a condition not run yet under ``run=False``
    prints SKIP)."""
    all_ok = True
    for condition in conditions:
        measured = measure(condition, repo, run)
        if measured is None:
            what = "sets params" if not condition.seeds else f"runs {len(condition.seeds)} seeds"
            echo(f"SKIP {condition.name:<22} {what} and has not run here yet: drop --no-run (with --only "
                 f"{condition.name})")
            continue
        for score in condition.scores:
            if condition.seeds:
                values = [lookup(m, score.key, None) for m in measured]
                if None in values:
                    ok, line = False, "missing in a run"
                else:
                    mean, low, high = score.interval([float(v) for v in values])
                    ok = low - 1e-12 <= score.expected <= high + 1e-12
                    line = (f"{len(values)} seeds {'/'.join(f'{v:.4f}' for v in values)}: mean {mean:.4f}, 95% "
                            f"prediction interval [{low:.4f}, {high:.4f}]")
                all_ok &= ok
                echo(f"{'OK  ' if ok else 'FAIL'} {condition.name:<22} {score.key:<22} expected "
                     f"{score.expected:.4f} in the interval, got {line}")
                continue
            ok, value, diff = score.check(measured[0])
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
