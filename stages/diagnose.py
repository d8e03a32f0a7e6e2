"""diagnose: how hard the negatives are, how many look like false negatives, and length adherence (dvc plots)."""

from pathlib import Path

import pandas as pd
import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.diagnostics import diagnose, examples, quality
from syneg.io import atomic_path, read_json, read_parquet, write_json
from syneg.params import for_stage

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("reflect.relative_margin",)

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    reflected: Path = typer.Option(..., help="The reflect stage's folder (kept, dropped)."),
    candidates: Path = typer.Option(..., help="The mine stage's candidates."),
    provenance: Path = typer.Option(..., help="The mix stage's provenance."),
    run_metrics: Path = typer.Option(..., help="Folder of the synthesize, reflect and mix metrics (.json), for the "
                                     "quality block."),
    metrics: Path = typer.Option(..., help="Summaries of the distributions."),
    plots: Path = typer.Option(..., help="Folder for score_ratio.csv and length_ratio.csv."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
    examples_: int = typer.Option(0, "--examples", help="Print this many kept synthetic negatives (a seeded "
                                  "sample) beside their query and positive, as markdown, and exit; writes nothing."),
) -> None:
    """Histograms of each negative's base-model score relative to its positive (synthetic vs retrieved), the
    count the model check flags, and each synthetic negative's word count relative to its positive."""
    setup("diagnose")
    margin = float(for_stage("diagnose", PARAMS, params).get("reflect.relative_margin"))
    ds = store.load(data)
    if examples_:
        queries = dict(zip(ds.queries["query_id"], ds.queries["text"]))
        typer.echo(examples(read_parquet(reflected / "kept.parquet"), queries, store.doc_texts(ds), examples_))
        return
    synthetic = pd.concat([read_parquet(reflected / "kept.parquet").assign(reason=""),
                           read_parquet(reflected / "dropped.parquet")], ignore_index=True)
    doc_text = store.doc_texts(ds)  # the positive as the prompts show it: title and text
    stats, scores, lengths = diagnose(synthetic, read_parquet(candidates), read_parquet(provenance), doc_text, margin)
    stats["quality"] = quality(synthetic, stats, *(read_json(run_metrics / f"{name}.json")
                                                   for name in ("mix", "synthesize", "reflect")))
    for name, frame in (("score_ratio.csv", scores), ("length_ratio.csv", lengths)):
        with atomic_path(plots / name) as tmp:
            frame.to_csv(tmp, index=False)
    write_json(metrics, stats)
    typer.echo(f"diagnose: {stats}")


if __name__ == "__main__":
    run(app)
