"""Compare systems query by query: means, paired differences with a bootstrap interval, randomization and
t-test p-values (Holm-corrected against one baseline), seed spread, and the smallest detectable effect.

A system is one run or several runs of one setting (training seeds), joined by commas. A run is a git
revision or DVC experiment name (its committed per-query table, ``metrics/<dataset>/per_query/<system>.csv``,
is read from git: nothing reruns), ``workspace`` (the tables on disk), ``REV:SYSTEM`` for another table of
that revision (``main:bm25``), a per-query table (``.csv``), or a TREC run file (scored here against the
prepared qrels), or a folder archived by :mod:`syneg.archive`. The first system is the baseline. Statistics:
:mod:`syneg.stats`.

Example (the command line; each positional argument is one system)::

    python -m syneg.compare main,seed43,seed44 ratio0-42,ratio0-43,ratio0-44 --seeds
    python -m syneg.compare main:bm25 main --metric ndcg@10 --json cmp.json --md cmp.md

    >>> split_spec("main:bm25"), split_spec("exp-1"), split_spec("runs/x.trec")
    (('main', 'bm25'), ('exp-1', None), ('runs/x.trec', None))
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd
import typer

from syneg import stats
from syneg.commands import experiments, git_show, run
from syneg.errors import UserError
from syneg.evaluation import METRICS, read_per_query

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@100")
METRICS_FILE = {"finetuned": "evaluate.json"}  # every other system is scored by the baselines stage


class CompareError(UserError):
    """Runs that cannot be compared; the message says which differ and how to fix it."""


@dataclass
class Run:
    """One run's per-query table and what is known of how it was scored."""

    spec: str
    table: pd.DataFrame
    commit: str | None = None
    meta: dict = field(default_factory=dict)  # split, ignore_identical_ids, qrels_sha256 when recorded


@dataclass
class System:
    label: str
    runs: list[Run]

    def scores(self, metric: str) -> np.ndarray:
        """Per-query score, the mean over this system's runs, in query-id order."""
        return np.mean([r.table[metric].to_numpy(dtype=float) for r in self.runs], axis=0)

    def run_means(self, metric: str) -> list[float]:
        return [float(r.table[metric].mean()) for r in self.runs]


def split_spec(spec: str) -> tuple[str, str | None]:
    """``REV:SYSTEM`` -> (REV, SYSTEM); a path or a plain revision -> (spec, None)."""
    if ":" in spec and not Path(spec).exists():
        rev, _, system = spec.rpartition(":")
        if re.fullmatch(r"[a-z_][a-z0-9_]*", system):
            return rev, system
    return spec, None


def resolve(repo: Path, rev: str) -> str:
    """The commit of a git revision or of a DVC experiment name."""
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=repo,
                          capture_output=True, text=True)
    if done.returncode == 0:
        return done.stdout.strip()
    found = experiments(repo, rev)
    if len(found) > 1:
        head = run(["git", "rev-parse", "HEAD"], repo).strip()
        found = [f for f in found if f[0] == head] or found
    if len(found) > 1:
        raise CompareError(f"{rev}: {len(found)} experiments have this name (on different commits); name one by "
                           f"its commit ({', '.join(commit[:10] for _, commit in found)})")
    if not found:
        raise CompareError(f"{rev}: not a git revision, DVC experiment, per-query table (.csv), archived run or run "
                           f"file; check the name with `dvc exp list --all-commits` or `git log`")
    return found[0][1]


def _meta(metrics: dict | None) -> dict:
    """How a run was scored, as its metrics file records it."""
    return {k: metrics[k] for k in ("split", "ignore_identical_ids", "qrels_sha256") if k in (metrics or {})}


def load_run(spec: str, dataset: str, system: str, repo: Path, qrels: Path | None, split: str | None) -> Run:
    """One run of ``spec`` (see the module docstring); a missing table is a one-line error with the fix."""
    where, named = split_spec(spec)
    system = named or system
    table_path = f"metrics/{dataset}/per_query/{system}.csv"
    metrics_path = f"metrics/{dataset}/{METRICS_FILE.get(system, 'baselines.json')}"
    path = Path(where)
    if path.suffix == ".csv" and path.is_file():
        return Run(spec, _checked_table(read_per_query(path), spec))
    if path.is_dir():  # a run archived by syneg.archive: its tables and the metrics that say how they were scored
        return _disk_run(spec, path / "per_query" / f"{system}.csv", path / Path(metrics_path).name,
                         f"{spec}: no per_query/{system}.csv in this folder; archive the run with `python -m "
                         f"syneg.archive NAME` or name a revision, table or run file")
    if path.is_file():
        return _score_run_file(spec, path, dataset, repo, qrels, split)
    if where == "workspace":
        return _disk_run(spec, repo / table_path, repo / metrics_path,
                         f"workspace: no {table_path}; run `dvc repro evaluate@{dataset}` (or baselines@{dataset}) "
                         f"first")
    commit = resolve(repo, where)
    text = git_show(repo, commit, table_path)
    if text is None:
        raise CompareError(f"{spec}: no {table_path} at {commit[:10]} (it ran before per-query tables existed, or has "
                           f"no such system); check it out and run `dvc repro evaluate@{dataset}`, or compare its run "
                           f"files")
    metrics_text = git_show(repo, commit, metrics_path)
    metrics = json.loads(metrics_text) if metrics_text else None
    return Run(spec, _checked_table(read_per_query(io.StringIO(text)), spec), commit, _meta(metrics))


def _disk_run(spec: str, table: Path, metrics: Path, missing: str) -> Run:
    """A run whose per-query table and metrics file lie on disk (the workspace, an archived folder)."""
    if not table.is_file():
        raise CompareError(missing)
    meta = _meta(json.loads(metrics.read_text())) if metrics.is_file() else {}
    return Run(spec, _checked_table(read_per_query(table), spec), None, meta)


def _checked_table(table: pd.DataFrame, spec: str) -> pd.DataFrame:
    missing = [c for c in ("query_id", *METRICS) if c not in table.columns]
    if missing:
        raise CompareError(f"{spec}: not a per-query table (no column {missing[0]!r}); write one with the evaluate "
                           f"stage or syneg.evaluation.write_per_query")
    if len(table) < 2:
        raise CompareError(f"{spec}: {len(table)} query scored; a paired comparison needs at least 2")
    if table["query_id"].duplicated().any():
        raise CompareError(f"{spec}: query {table['query_id'][table['query_id'].duplicated()].iloc[0]!r} appears twice")
    return table.sort_values("query_id", kind="stable").reset_index(drop=True)


def _score_run_file(spec: str, path: Path, dataset: str, repo: Path, qrels: Path | None, split: str | None) -> Run:
    from syneg.data import store
    from syneg.evaluation import per_query, qrels_sha256
    from syneg.params import read
    from syneg.retrieval.trec import read_trec

    qrels = qrels or repo / f"data/{dataset}/prepared/qrels.parquet"
    if not qrels.is_file():
        raise CompareError(f"{spec}: a run file needs judgements, and {qrels} does not exist; pass --qrels "
                           f"(a prepare stage's qrels.parquet) or run `dvc repro prepare@{dataset}`")
    split = split or read(repo / "params.yaml").get("evaluate", {}).get("split", "test")
    relevant = store.load_relevant(qrels, split)
    return Run(spec, _checked_table(per_query(relevant, read_trec(path)), spec), None,
               {"split": split, "ignore_identical_ids": False, "qrels_sha256": qrels_sha256(relevant)})


def check_comparable(systems: list[System]) -> None:
    """Same queries, same judgements and settings everywhere, or a one-line error naming what differs."""
    first = systems[0].runs[0]
    queries = list(first.table["query_id"])
    for system in systems:
        for run in system.runs:
            other = list(run.table["query_id"])
            if other != queries:
                only = sorted(set(queries) - set(other)) or sorted(set(other) - set(queries))
                raise CompareError(f"{first.spec} and {run.spec} were scored on different queries ({len(queries)} vs "
                                   f"{len(other)}, e.g. {only[0]!r} in one only); compare runs of one dataset and "
                                   f"split (evaluate.split)")
            for key in ("qrels_sha256", "split", "ignore_identical_ids"):
                if key in first.meta and key in run.meta and first.meta[key] != run.meta[key]:
                    raise CompareError(f"{first.spec} and {run.spec} were scored with different {key} "
                                       f"({first.meta[key]} vs {run.meta[key]}); compare runs scored on the same "
                                       f"judgements and settings")


def compare(systems: list[System], metrics=DEFAULT_METRICS, seed: int = 42, resamples: int = stats.RESAMPLES,
            seed_sd: float | None = None) -> dict:
    """Every system against the first, for each metric (see :mod:`syneg.stats`); a JSON-ready dict."""
    if len(systems) < 2:
        raise CompareError(f"compare needs at least two systems, got {len(systems)}: python -m syneg.compare "
                           f"BASELINE OTHER [...] (runs of one system joined by commas)")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise CompareError(f"--metric {unknown[0]!r}: use one of {', '.join(METRICS)}")
    check_comparable(systems)
    base = systems[0]
    out = {"baseline": base.label, "queries": len(base.runs[0].table),
           "settings": {"seed": seed, "resamples": resamples, "alpha": stats.ALPHA, "power": stats.POWER,
                        "assumed_seed_sd": seed_sd},
           "systems": [{"label": s.label, "runs": [r.spec for r in s.runs],
                        "commits": [r.commit for r in s.runs]} for s in systems],
           "metrics": {}}

    def seed_var_of(system: System, metric: str) -> float | None:
        means = system.run_means(metric)
        if len(means) >= 2:
            return float(np.var(means, ddof=1)) / len(means)
        return None if seed_sd is None else seed_sd ** 2

    for metric in metrics:
        rows = []
        for system in systems:
            means = system.run_means(metric)
            row = {"system": system.label, "runs": len(system.runs), "mean": float(system.scores(metric).mean()),
                   "run_means": means, "seed_sd": float(np.std(means, ddof=1)) if len(means) >= 2 else None}
            if system is not base:
                parts = [seed_var_of(base, metric), seed_var_of(system, metric)]
                result = stats.paired(system.scores(metric), base.scores(metric), seed=seed, resamples=resamples,
                                      seed_var=None if None in parts else sum(parts))
                row |= result.as_dict()
                row["mde_queries"] = stats.mde(result.sd_diff, result.n)  # the paired test's own, seeds aside
            rows.append(row)
        others = rows[1:]
        for test in ("p_randomization", "p_ttest"):
            for row, adjusted in zip(others, stats.holm([r[test] for r in others])):
                row[f"{test}_holm"] = adjusted
        out["metrics"][metric] = rows
    return out


def _pct(value: float | None, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value * 100:+.2f}" if sign else f"{value * 100:.2f}"


def format_p(value: float) -> str:
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def markdown(result: dict) -> str:
    """The comparison as Markdown: one table per metric, scores x 100."""
    lines = [f"Paired over {result['queries']} queries against **{result['baseline']}**; 95% bootstrap CI (BCa, "
             f"{result['settings']['resamples']} resamples, seed {result['settings']['seed']}); p: paired "
             f"randomization test and paired t-test, two-sided"
             + ("; Holm-corrected over the systems compared" if len(result["systems"]) > 2 else "")
             + "; MDE: the smallest difference detected with 80% power at 5%, with the seed spread where known "
               "(MDE q.: queries only). Scores x 100. With few queries differing, the bootstrap interval is too "
               "narrow; trust the randomization test."]
    holm = len(result["systems"]) > 2
    for metric, rows in result["metrics"].items():
        lines += ["", f"**{metric}**", "",
                  "| system | runs | mean | seed sd | diff | 95% CI | queries differing | p (rand.) | p (t) | MDE | MDE q. |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for row in rows:
            if "diff" not in row:
                lines.append(f"| {row['system']} | {row['runs']} | {_pct(row['mean'])} | {_pct(row['seed_sd'])} | "
                             f"(baseline) | | | | | | |")
                continue
            p_r = row["p_randomization_holm" if holm else "p_randomization"]
            p_t = row["p_ttest_holm" if holm else "p_ttest"]
            lines.append(f"| {row['system']} | {row['runs']} | {_pct(row['mean'])} | {_pct(row['seed_sd'])} | "
                         f"{_pct(row['diff'], True)} | [{_pct(row['ci_low'], True)}, {_pct(row['ci_high'], True)}] | "
                         f"{row['differing']} | {format_p(p_r)} | {format_p(p_t)} | {_pct(row['mde'])} | {_pct(row['mde_queries'])} |")
    return "\n".join(lines) + "\n"


def load_systems(specs: list[str], names: list[str] | None, dataset: str, system: str, repo: Path,
                 qrels: Path | None, split: str | None, require_seeds: bool) -> list[System]:
    if names and len(names) != len(specs):
        raise CompareError(f"--name given {len(names)} times for {len(specs)} systems; give one per system or none")
    systems = []
    for i, spec in enumerate(specs):
        parts = [p for p in spec.split(",") if p]
        if require_seeds and len(parts) < 2:
            raise CompareError(f"--seeds: system {spec!r} has {len(parts)} run; give at least 2 comma-separated runs "
                               f"(one per train.seed) or drop --seeds")
        systems.append(System(names[i] if names else spec,
                              [load_run(p, dataset, system, repo, qrels, split) for p in parts]))
    return systems


app = typer.Typer(add_completion=False)


@app.command()
def main(
    specs: List[str] = typer.Argument(..., help="Systems, the baseline first; a system's runs (seeds) joined by "
                                      "commas. A run: a git revision, a DVC experiment name, 'workspace', REV:SYSTEM, a "
                                      "per-query .csv or a TREC run file."),
    dataset: str = typer.Option("scifact", help="The dataset whose tables are compared."),
    system: str = typer.Option("finetuned", help="Which table of a revision: finetuned, bm25, bm25_multifield, "
                               "zeroshot."),
    metric: Optional[List[str]] = typer.Option(None, help="Metrics compared (repeat); default ndcg@10, mrr@10, "
                                               "recall@100."),
    name: Optional[List[str]] = typer.Option(None, help="A label per system, in order."),
    seeds: bool = typer.Option(False, "--seeds", help="Require at least 2 runs (seeds) per system."),
    seed_sd: Optional[float] = typer.Option(None, help="Between-seed sd of a mean score (0-1 scale) to assume for a "
                                            "system with one run, for the MDE."),
    qrels: Optional[Path] = typer.Option(None, help="For run files: the prepare stage's qrels.parquet."),
    split: Optional[str] = typer.Option(None, help="For run files: the split scored (default evaluate.split)."),
    seed: int = typer.Option(42, help="Seeds the bootstrap and the randomization test."),
    resamples: int = typer.Option(stats.RESAMPLES, help="Bootstrap resamples and random swaps."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the result as JSON here."),
    md_out: Optional[Path] = typer.Option(None, "--md", help="Also write the Markdown table here."),
    repo: Path = typer.Option(Path("."), help="The project's git repository."),
) -> None:
    """Compare systems query by query; prints a Markdown table (and writes JSON / Markdown when asked)."""
    from syneg.io import atomic_path, write_json

    try:
        systems = load_systems(specs, name, dataset, system, repo, qrels, split, seeds)
        result = compare(systems, tuple(metric or DEFAULT_METRICS), seed, resamples, seed_sd)
    except UserError as exc:  # one line, nothing written
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    text = markdown(result)
    if json_out:
        write_json(json_out, result)
    if md_out:
        with atomic_path(md_out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    typer.echo(text, nl=False)


if __name__ == "__main__":
    app()
