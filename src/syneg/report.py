"""The pull-request report: what a change did to metrics, params and plots, as one Markdown comment.

The numbers come from DVC itself (``dvc metrics diff --md``, ``dvc params diff --md``, ``dvc plots diff``),
and, so that a difference comes with its uncertainty, the fine-tuned model's per-query scores of the pull
request against the base revision's (:mod:`syneg.compare`: paired over queries, 95% interval, p-values, the
smallest detectable effect). The base's per-query table is read from git (``metrics/<dataset>/per_query/``,
a ``cache: false`` output), so nothing is retrained for it.
``.github/workflows/pr-metrics.yml`` posts the result on every pull request.

Example:
    >>> from syneg.report import changed_plots
    >>> changed_plots({"data": {"loss": [{"content": {"data": {"values": [
    ...     {"step": 0, "loss": 1.0, "rev": "main"}, {"step": 0, "loss": 0.9, "rev": "workspace"}]}}}]}})
    ['loss']

    On the command line, from a DVC project::

        python -m syneg.report --base origin/main --out report.md --plots-dir plots-diff
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import typer

from syneg.commands import run
from syneg.io import atomic_path

MARKER = "<!-- syneg-pr-report -->"  # lets the workflow find and update its own comment


class ReportError(RuntimeError):
    """A DVC command the report needs failed; the message names it and DVC's own words."""


def _dvc(repo: Path, *args: str) -> str:
    return run(["dvc", *args], repo, ReportError)


def _table(markdown: str) -> str:
    """DVC's Markdown table, or "" when it has no row (DVC prints the bare header then)."""
    markdown = markdown.strip()
    return markdown if len(markdown.splitlines()) > 2 else ""


def changed_plots(plots_json: dict) -> list[str]:
    """The ids of the plots whose data differs between the revisions in a ``dvc plots diff --json`` answer."""
    changed = []
    for plot_id, renders in sorted(plots_json.get("data", {}).items()):
        by_rev: dict[str, Counter] = defaultdict(Counter)
        for render in renders:
            for row in render.get("content", {}).get("data", {}).get("values", []):
                rest = {k: v for k, v in row.items() if k != "rev"}
                by_rev[row.get("rev")][json.dumps(rest, sort_keys=True)] += 1
        counts = list(by_rev.values())
        if len(counts) == 1 or any(c != counts[0] for c in counts[1:]):
            changed.append(plot_id)
    return changed


def pr_report(base: str, repo: str | Path = ".", plots_dir: str | Path | None = None,
              plots_url: str | None = None) -> str:
    """The Markdown comment comparing the workspace with ``base`` (a branch, tag or commit).

    Args:
        base: the revision compared against, e.g. ``origin/main``.
        repo: the DVC project.
        plots_dir: where ``dvc plots diff`` writes its HTML page of every plot of both revisions (none if unset).
        plots_url: where readers find that page (the workflow's artifact link), named in the comment.
    """
    repo = Path(repo)
    metrics = _table(_dvc(repo, "metrics", "diff", base, "--md", "--precision", "4"))
    params = _table(_dvc(repo, "params", "diff", base, "--md"))
    plots = changed_plots(json.loads(_dvc(repo, "plots", "diff", base, "--json")))
    if plots_dir is not None:
        _dvc(repo, "plots", "diff", base, "--out", str(plots_dir))
    lines = [MARKER, f"## syneg: this change against `{base}`", "", "### Metrics", "",
             metrics or "No metric changed.", "", "### Params", "", params or "No param changed.", "",
             "### Plots that changed", ""]
    lines += [f"- `{plot}`" for plot in plots] or ["No plot changed."]
    if plots and plots_url:
        lines += ["", f"Both revisions of every plot: [dvc plots diff]({plots_url})."]
    lines += ["", "### The fine-tuned model, query by query", ""] + query_by_query(base, repo)
    return "\n".join(lines) + "\n"


def query_by_query(base: str, repo: Path, resamples: int = 10000) -> list[str]:
    """For each dataset of ``data.train``: the workspace's fine-tuned model against ``base``'s, paired over
    queries; a line saying why when either side has no per-query table."""
    from syneg import compare
    from syneg.errors import UserError
    from syneg.params import read

    datasets = read(repo / "params.yaml").get("data", {}).get("train") or []
    lines: list[str] = []
    for dataset in datasets:
        try:
            systems = [compare.System(f"{base}", [compare.load_run(base, dataset, "finetuned", repo, None, None)]),
                       compare.System("this change", [compare.load_run("workspace", dataset, "finetuned", repo,
                                                                       None, None)])]
            result = compare.compare(systems, resamples=resamples)
        except UserError as err:
            lines += [f"`{dataset}`: not compared: {err}", ""]
            continue
        lines += [f"`{dataset}`, one training run each side:", "", compare.markdown(result).rstrip(), ""]
    return lines or ["No dataset is trained (data.train is empty)."]


def main(base: str = typer.Option(..., help="Revision to compare against, e.g. origin/main."),
         out: Path = typer.Option(Path("report.md"), help="Where the Markdown goes."),
         plots_dir: Path | None = typer.Option(None, help="Write dvc plots diff's HTML here too."),
         plots_url: str | None = typer.Option(None, help="Link to that HTML, named in the report."),
         repo: Path = typer.Option(Path("."), help="The DVC project.")) -> None:
    """Write the pull-request report (metrics, params and plots against BASE) to OUT."""
    try:
        text = pr_report(base, repo, plots_dir, plots_url)
    except ReportError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    typer.echo(f"wrote {out}")


if __name__ == "__main__":
    typer.run(main)
