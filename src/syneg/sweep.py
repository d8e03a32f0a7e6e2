"""A sweep's table and plot: nDCG@10 against ``mix.ratio``, one line per ``mix.strategy``, over DVC experiments.

The sweep itself is DVC's (documented in docs/experiments.md)::

    dvc exp run --queue -S mix.strategy=hybrid,direct -S mix.ratio=0,0.25,0.5,0.75,1
    dvc queue start && dvc queue status

Seeds are a dimension: ``-S train.seed=42,43,44`` in the queue command repeats every setting. This module
reads what ``dvc exp show --json`` says of every experiment (and the committed workspace), keeps one run per
(strategy, ratio, train.seed, mix.seed), and per (strategy, ratio) reports the mean and standard deviation over
seeds, and the difference of nDCG@10 against a baseline point (retrieved only, ``hybrid:0``, by default) with
its 95% interval, p-value and smallest detectable effect, from the runs' per-query tables
(:mod:`syneg.compare`: per-query scores averaged over seeds, paired over queries, the seed spread counted in
the MDE). It writes a CSV of the runs, a Markdown table of the points and an SVG plot with error bars.

Example:
    >>> runs = pd.DataFrame([{"experiment": e, "dataset": "scifact", "mix.strategy": "hybrid", "mix.ratio": 0.5,
    ...                       "train.seed": s, "ndcg@10": v} for e, s, v in (("a", 42, 0.69), ("b", 43, 0.68))])
    >>> points = aggregate(runs)
    >>> row = points.iloc[0]
    >>> int(row["seeds"]), round(float(row["ndcg@10"]), 4), round(float(row["ndcg@10_sd"]), 4)
    (2, 0.685, 0.0071)

    On the command line::

        python -m syneg.sweep --out metrics/sweep     # writes sweep.csv, sweep.md, sweep.svg
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer

from syneg.commands import run
from syneg.io import atomic_path
from syneg.params import lookup

PARAMS = ("mix.strategy", "mix.ratio")
SEEDS = ("train.seed", "mix.seed")
SCORES = ("ndcg@10", "mrr@10", "recall@100")
#: Per trained dataset, ``metrics/<dataset>/<file>`` (``metrics/<file>`` before datasets were a list).
METRICS = {"evaluate.json": ("finetuned.ndcg@10", "finetuned.mrr@10", "finetuned.recall@100"),
           "train.json": ("grad_norm_variance",)}


def _datasets(metrics: dict, params: dict) -> dict[str, str]:
    """``{dataset: metrics folder}`` of the datasets a revision evaluated a fine-tuned model on."""
    found = {}
    for path in metrics:
        folder, _, name = path.rpartition("/")
        if name == "evaluate.json":
            dataset = folder.rpartition("/")[2] if folder != "metrics" else lookup(params, "data.dataset", "?")
            found[dataset] = folder
    return found


#: Queue states whose experiment has no results of its own: DVC shows its parent's metrics for it.
UNFINISHED = {"queued", "running", "failed"}


def _records(node) -> list[dict]:
    """Every revision entry (workspace, commits, finished experiments) in ``dvc exp show --json``'s nested
    answer; a queued, running or failed experiment is left out (its metrics would be its parent's)."""
    out = []
    if isinstance(node, list):
        for item in node:
            out += _records(item)
    elif isinstance(node, dict):
        if ((node.get("executor") or {}).get("state")) in UNFINISHED:
            return out
        if isinstance(node.get("data"), dict):
            out.append(node)
        for key in ("experiments", "revs"):
            out += _records(node.get(key) or [])
    return out


def collect(exp_show: list) -> pd.DataFrame:
    """One row per revision with the sweep's params and metrics; rows without the metrics are left out,
    and of several revisions with the same params the first listed is kept (DVC lists the workspace
    first, then each commit with its experiments, newest first)."""
    rows = []
    for rec in _records(exp_show):
        data = rec["data"]
        params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
        rev = str(rec.get("rev", ""))
        commit = rev if len(rev) == 40 else "workspace"
        short = rev[:7] if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev) else rev  # a commit sha
        metrics = data.get("metrics") or {}
        for dataset, folder in _datasets(metrics, params).items():
            row = {"experiment": rec.get("name") or short, "rev": commit, "dataset": dataset}
            row.update({key: lookup(params, key, None) for key in (*PARAMS, *SEEDS)})
            for file, keys in METRICS.items():
                values = metrics.get(f"{folder}/{file}", {}).get("data") or {}
                row.update({key.split(".")[-1]: lookup(values, key, None) for key in keys})
            if row.get("ndcg@10") is not None:
                rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    keys = ["dataset", *PARAMS, *SEEDS]
    table = table.drop_duplicates(subset=keys, keep="first")
    return table.sort_values(keys, na_position="first").reset_index(drop=True)


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, strategy, ratio): how many seeds, each score's mean and standard deviation over
    them (``<score>_sd``, None for one seed), and the experiments pooled."""
    rows = []
    keys = [k for k in ("dataset", *PARAMS) if k in runs]
    for point, part in runs.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, point if isinstance(point, tuple) else (point,)))
        row["seeds"] = len(part)
        for score in (*SCORES, "grad_norm_variance"):
            if score in part:
                values = part[score].dropna().astype(float)
                row[score] = float(values.mean()) if len(values) else None
                row[f"{score}_sd"] = float(values.std(ddof=1)) if len(values) >= 2 else None
        row["experiments"] = ",".join(part["experiment"].astype(str))
        row["revs"] = ",".join(part["rev"].astype(str)) if "rev" in part else ""
        rows.append(row)
    return pd.DataFrame(rows)


def significance(points: pd.DataFrame, baseline: tuple[str, float] | None, repo: Path, resamples: int = 10000,
                 seed: int = 42) -> pd.DataFrame:
    """nDCG@10 of every point against the ``(strategy, ratio)`` baseline of its dataset, from the runs'
    per-query tables: ``diff``, ``ci_low``, ``ci_high``, ``p`` (paired randomization test, Holm-corrected over
    the points compared with one baseline), ``mde`` (with the seed spread when both sides have 2 or more seeds,
    else the queries' alone: ``mde_with_seeds`` says which), and ``note`` when a point could not be compared (a
    run without a per-query table: one that ran before they existed)."""
    from syneg import compare, stats
    from syneg.errors import UserError

    points = points.copy()
    for col in ("diff", "ci_low", "ci_high", "p", "mde", "mde_with_seeds", "note"):
        points[col] = None
    if baseline is None:
        return points
    for dataset, part in points.groupby("dataset"):
        base = part[(part["mix.strategy"] == baseline[0]) & (part["mix.ratio"].astype(float) == float(baseline[1]))]
        if base.empty:
            continue

        def system(row) -> "compare.System":
            return compare.System(f"{row['mix.strategy']} {row['mix.ratio']}",
                                  [compare.load_run(r, dataset, "finetuned", repo, None, None)
                                   for r in row["revs"].split(",")])

        try:
            reference = system(base.iloc[0])
        except UserError as err:
            points.loc[part.index, "note"] = f"baseline not compared: {err}"
            continue
        compared = []
        for index, row in part.iterrows():
            if index == base.index[0]:
                continue
            try:
                other = compare.compare([reference, system(row)], ("ndcg@10",), seed, resamples)["metrics"]["ndcg@10"][1]
            except UserError as err:
                points.loc[index, "note"] = f"not compared: {err}"
                continue
            with_seeds = other["mde"] is not None
            points.loc[index, ["diff", "ci_low", "ci_high", "p", "mde", "mde_with_seeds"]] = [
                other["diff"], other["ci_low"], other["ci_high"], other["p_randomization"],
                other["mde"] if with_seeds else other["mde_queries"], with_seeds]
            compared.append(index)
        for index, adjusted in zip(compared, stats.holm([points.loc[i, "p"] for i in compared])):
            points.loc[index, "p"] = adjusted
    return points


def _pm(mean, sd) -> str:
    if mean is None or pd.isna(mean):
        return ""
    return f"{100 * mean:.2f}" + (f" ± {100 * sd:.2f}" if sd is not None and not pd.isna(sd) else "")


def markdown(points: pd.DataFrame, baseline: tuple[str, float] | None = None) -> str:
    """The points as Markdown: scores x 100 as mean ± sd over seeds, and nDCG@10 against the baseline."""
    cols = ["dataset", "mix.strategy", "mix.ratio", "seeds", "nDCG@10", "MRR@10", "R@100", "grad-norm variance"]
    compared = "diff" in points and points["diff"].notna().any()
    if compared:
        cols += [f"nDCG@10 vs {baseline[0]} {baseline[1]:g} [95% CI]", "p (Holm)", "MDE"]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for row in points.to_dict("records"):
        var = row.get("grad_norm_variance")
        cells = [str(row.get("dataset", "")), str(row["mix.strategy"]), f"{row['mix.ratio']:g}", str(row["seeds"]),
                 _pm(row.get("ndcg@10"), row.get("ndcg@10_sd")), _pm(row.get("mrr@10"), row.get("mrr@10_sd")),
                 _pm(row.get("recall@100"), row.get("recall@100_sd")),
                 "" if var is None or pd.isna(var) else f"{var:.3f}" + (
                     f" ± {row['grad_norm_variance_sd']:.3f}" if not pd.isna(row.get("grad_norm_variance_sd"))
                     and row.get("grad_norm_variance_sd") is not None else "")]
        if compared:
            if row.get("diff") is None or pd.isna(row.get("diff")):
                cells += ["(baseline)" if row["mix.strategy"] == baseline[0]
                          and float(row["mix.ratio"]) == float(baseline[1]) else "", "", ""]
            else:
                cells += [f"{100 * row['diff']:+.2f} [{100 * row['ci_low']:+.2f}, {100 * row['ci_high']:+.2f}]",
                          f"{row['p']:.4f}", f"{100 * row['mde']:.2f}" + ("" if row["mde_with_seeds"] else " (queries)")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(points: pd.DataFrame, path: str | Path) -> None:
    """nDCG@10 against mix.ratio, one line per strategy (and dataset, when there are several), error bars of
    one standard deviation over seeds, as an SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if "dataset" not in points:
        points = points.assign(dataset="")
    several = points["dataset"].nunique() > 1
    for (dataset, strategy), part in points.groupby(["dataset", "mix.strategy"]):
        part = part.sort_values("mix.ratio")
        sd = part["ndcg@10_sd"].astype(float).fillna(0) if "ndcg@10_sd" in part else None
        ax.errorbar(part["mix.ratio"], 100 * part["ndcg@10"].astype(float),
                    yerr=None if sd is None else 100 * sd, marker="o", capsize=3,
                    label=f"{dataset} {strategy}" if several else strategy)
    ax.set_xlabel("mix.ratio (synthetic share)")
    ax.set_ylabel("nDCG@10 x 100 (test), mean ± sd over seeds")
    ax.grid(alpha=0.3)
    ax.legend(title="mix.strategy")
    fig.tight_layout()
    plt.rcParams["svg.hashsalt"] = "syneg"  # stable ids: equal sweeps give equal files
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def main(out: Path = typer.Option(Path("metrics/sweep"), help="Prefix of the .csv, .md and .svg written."),
         repo: Path = typer.Option(Path("."), help="The DVC project."),
         commits: int = typer.Option(1, help="Also take the experiments of this many commits back from HEAD "
                                     "(dvc exp show -n): a sweep run before the latest commit."),
         baseline: str = typer.Option("hybrid:0", help="STRATEGY:RATIO every point's nDCG@10 is compared with "
                                      "(hybrid:0 = retrieved negatives only), or none."),
         seeds: bool = typer.Option(False, "--seeds", help="Require at least 2 seeds (train.seed / mix.seed) per "
                                    "point."),
         resamples: int = typer.Option(10000, help="Bootstrap resamples and random swaps of the comparisons.")) -> None:
    """Collect every experiment's mix params, seeds and metrics; write the sweep table and plot."""
    from syneg.errors import UserError

    try:
        strategy, _, ratio = baseline.partition(":")
        base = None if baseline == "none" else (strategy, float(ratio))
    except ValueError:
        typer.echo(f"error: --baseline {baseline!r}: write STRATEGY:RATIO, e.g. hybrid:0", err=True)
        raise typer.Exit(1) from None
    try:
        runs = collect(json.loads(run(["dvc", "exp", "show", "--json", "-n", str(commits)], repo)))
        if runs.empty:
            raise UserError("no experiment has metrics/<dataset>/evaluate.json yet; run the sweep first (see "
                            "docs/experiments.md)")
        points = aggregate(runs)
        single = points[points["seeds"] < 2]
        if seeds and not single.empty:
            first = single.iloc[0]
            raise UserError(f"--seeds: {first['mix.strategy']} {first['mix.ratio']:g} has {first['seeds']} run; "
                            f"queue it with -S train.seed=42,43,44 or drop --seeds")
        points = significance(points, base, repo, resamples)
    except (RuntimeError, UserError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    with atomic_path(out.with_suffix(".csv")) as tmp:
        runs.to_csv(tmp, index=False)
    with atomic_path(out.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(points, base) + "\n")
    with atomic_path(out.with_suffix(".svg")) as tmp:
        plot(points, tmp)
    typer.echo(markdown(points, base))
    for note in points["note"].dropna().unique():
        typer.echo(f"note: {note}", err=True)


if __name__ == "__main__":
    typer.run(main)
