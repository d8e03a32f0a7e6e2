"""card: the fine-tuned model's card (base model, data, params, metrics) beside the DVC artifact."""

from pathlib import Path

import typer

from syneg.card import render
from syneg.compare import System, compare, load_run
from syneg.cli import run, setup
from syneg.io import atomic_path, read_json
from syneg.params import for_stage

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("model.base", "model.max_seq_length", "mix", "train")

app = typer.Typer(add_completion=False)


@app.command()
def main(
    manifest: Path = typer.Option(..., help="The prepare stage's manifest.json."),
    metrics_dir: Path = typer.Option(..., help="Folder of the stages' metrics (evaluate, baselines, train, mix, "
                                     "synthesize .json, per_query/*.csv)."),
    out: Path = typer.Option(..., help="The card to write (markdown)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """Write the card of the fine-tuned model from params 'model', 'mix', 'train' and the run's metrics."""
    setup("card")
    p = for_stage("card", PARAMS, params)
    m = {name: read_json(metrics_dir / f"{name}.json") for name in ("evaluate", "baselines", "train", "mix",
                                                                     "synthesize")}
    comparisons = {}
    for other in ("zeroshot", "bm25"):
        runs = [load_run(str(metrics_dir / "per_query" / f"{key}.csv"), "", key, Path("."), None, None)
                for key in (other, "finetuned")]
        systems = [System(other, runs[:1]), System("finetuned", runs[1:])]
        comparisons[other] = compare(systems, ("ndcg@10", "recall@100"))
    text = render(p.section("model"), p.section("mix"), p.section("train"), read_json(manifest), m["evaluate"],
                  m["baselines"], m["train"], m["mix"], m["synthesize"], comparisons)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    typer.echo(f"card: {out}")


if __name__ == "__main__":
    run(app)
